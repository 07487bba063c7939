# SYNCLINE_ASAN: AddressSanitizer + UndefinedBehaviorSanitizer.
# SYNCLINE_TSAN: ThreadSanitizer. The two are mutually exclusive.
if(SYNCLINE_ASAN AND SYNCLINE_TSAN)
  message(FATAL_ERROR "SYNCLINE_ASAN and SYNCLINE_TSAN cannot be combined")
endif()
if(SYNCLINE_ASAN)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(SYNCLINE_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
