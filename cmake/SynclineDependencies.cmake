# Every dependency comes from Debian 12 packages (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
# Asio (libasio-dev) is header-only. It chooses aligned_alloc or operator new for handler memory
# in each translation unit, from whether libstdc++'s configuration was read before its own, so
# one program could free an aligned_alloc block with operator delete (AddressSanitizer reports
# it once inlining mixes the two). Every unit makes the same choice: operator new and delete.
# The replication module exports the definition to whatever includes its headers.
add_compile_definitions(ASIO_DISABLE_STD_ALIGNED_ALLOC)
find_package(Protobuf REQUIRED)
find_package(spdlog REQUIRED)
find_package(roaring REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
find_package(OpenSSL REQUIRED)  # HMAC-SHA256 for the peer handshake (libssl-dev)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)  # admin HTTP endpoint (libcpp-httplib-dev)
if(SYNCLINE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
