# SYNCLINE_ASAN: AddressSanitizer + UndefinedBehaviorSanitizer.
# SYNCLINE_TSAN: ThreadSanitizer. The two are mutually exclusive.
if(SYNCLINE_ASAN AND SYNCLINE_TSAN)
  message(FATAL_ERROR "SYNCLINE_ASAN and SYNCLINE_TSAN cannot be combined")
endif()
# Both compile at -O1 (assertions stay on in the Debug build the test script uses): unoptimized
# sanitized code runs the long property tests many times slower for no extra findings. GCC's
# maybe-uninitialized analysis gives false positives on instrumented code (in libstdc++'s
# std::regex and std::function here), so that one warning is left to the default build.
set(SYNCLINE_SANITIZER_FLAGS -O1 -Wno-maybe-uninitialized -fno-omit-frame-pointer)
if(SYNCLINE_ASAN)
  add_compile_options(${SYNCLINE_SANITIZER_FLAGS} -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(SYNCLINE_TSAN)
  add_compile_options(${SYNCLINE_SANITIZER_FLAGS} -fsanitize=thread)
  add_link_options(-fsanitize=thread)
endif()
