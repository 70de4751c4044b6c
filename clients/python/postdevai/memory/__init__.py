"""The gRPC API's generated code, by protocol version (postdevai.memory.v1)."""
