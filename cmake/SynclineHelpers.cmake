include(GoogleTest)

# syncline_add_module(NAME <module> SOURCES ... DEPS ... [PRIVATE_DEPS ...])
# Defines syncline_<module> with alias syncline::<module>. Public headers live in
# <module>/include/syncline/<module>/, private code in <module>/src/.
function(syncline_add_module)
  cmake_parse_arguments(M "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target syncline_${M_NAME})
  if(M_SOURCES)
    add_library(${target} STATIC ${M_SOURCES})
    target_include_directories(${target}
      PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
      PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    syncline_set_warnings(${target})
  else()
    add_library(${target} INTERFACE)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include)
      target_include_directories(${target} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
    endif()
    target_link_libraries(${target} INTERFACE ${M_DEPS})
  endif()
  add_library(syncline::${M_NAME} ALIAS ${target})
endfunction()

# syncline_add_proto(TARGET <target> IMPORT_DIR <dir> PROTOS ...) compiles .proto files
# (paths under IMPORT_DIR) into a private static library; generated code never appears in a
# public header. Generated headers are included as "<path relative to IMPORT_DIR>.pb.h".
function(syncline_add_proto)
  cmake_parse_arguments(P "" "TARGET;IMPORT_DIR" "PROTOS" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/proto_gen)
  file(MAKE_DIRECTORY ${out_dir})
  set(generated)
  foreach(proto ${P_PROTOS})
    file(RELATIVE_PATH rel ${P_IMPORT_DIR} ${proto})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(cc ${out_dir}/${base}.pb.cc)
    set(h ${out_dir}/${base}.pb.h)
    add_custom_command(
      OUTPUT ${cc} ${h}
      COMMAND protobuf::protoc --cpp_out=${out_dir} -I ${P_IMPORT_DIR} ${proto}
      DEPENDS ${proto} protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND generated ${cc})
  endforeach()
  add_library(${P_TARGET} STATIC ${generated})
  target_include_directories(${P_TARGET} PUBLIC ${out_dir})
  target_link_libraries(${P_TARGET} PUBLIC protobuf::libprotobuf)
  set_target_properties(${P_TARGET} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# syncline_add_test(NAME <name> SOURCES ... DEPS ... [LABELS ...])
function(syncline_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  syncline_set_warnings(${T_NAME})
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${T_LABELS}")
endfunction()
