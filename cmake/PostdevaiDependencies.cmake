# Finds the Debian 12 packages the project builds on (installed by scripts/deps.sh).
find_package(Threads REQUIRED)
find_package(leveldb CONFIG REQUIRED)   # needs Threads first
find_package(zstd CONFIG REQUIRED)
find_package(hwy CONFIG REQUIRED)
find_package(tomlplusplus CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(Catch2 REQUIRED)
find_package(OpenSSL REQUIRED)   # libcrypto: SHA-256 of code paths (CodeIdForPath)
include(Catch)

# zstd's config exports libzstd_shared / libzstd_static; give one stable name.
if(TARGET zstd::libzstd_shared)
  add_library(postdevai_zstd ALIAS zstd::libzstd_shared)
else()
  add_library(postdevai_zstd ALIAS zstd::libzstd_static)
endif()

# CAF 0.17.6 ships no CMake package and no pkg-config file: wrap it ourselves.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
foreach(component core io openssl)
  find_library(CAF_${component}_LIBRARY caf_${component} REQUIRED)
  add_library(caf::${component} SHARED IMPORTED GLOBAL)
  set_target_properties(caf::${component} PROPERTIES
    IMPORTED_LOCATION ${CAF_${component}_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR}
    INTERFACE_COMPILE_DEFINITIONS CAF_ENABLE_TYPE_ID_CHECKS)
endforeach()
set_property(TARGET caf::io APPEND PROPERTY INTERFACE_LINK_LIBRARIES caf::core)
set_property(TARGET caf::openssl APPEND PROPERTY INTERFACE_LINK_LIBRARIES caf::io)

# gRPC API (proto/): Debian's libgrpc++-dev ships a CMake package; protobuf
# comes through CMake's FindProtobuf (protoc and libprotobuf).
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
