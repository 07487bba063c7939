# Warning flags applied to every Syncline target (not to dependencies or generated code).
set(SYNCLINE_WARNING_FLAGS
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wformat=2
  -Wimplicit-fallthrough -Wmisleading-indentation)
if(SYNCLINE_WERROR)
  list(APPEND SYNCLINE_WARNING_FLAGS -Werror)
endif()

function(syncline_set_warnings target)
  target_compile_options(${target} PRIVATE ${SYNCLINE_WARNING_FLAGS})
endfunction()
