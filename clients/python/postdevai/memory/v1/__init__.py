"""postdevai.memory.v1: memory_pb2 (messages) and memory_pb2_grpc (the stub).

Both are generated at build time by protoc from proto/postdevai/memory/v1/memory.proto
(`cmake --build build --target postdevai_python_client`); they are not committed.
"""
