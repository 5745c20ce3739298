# vmk_library(NAME DIR dir [DEPS vmk_lib...] [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
#
# One static library per folder: the folder's *.cc files, tests (*_test.cc) and mains
# (*_main.cc) left out. DEPS name the project libraries the folder may use; they are linked
# PUBLIC (our headers include each other's) and recorded for vmk_check_layers().
function(vmk_library name)
  cmake_parse_arguments(L "" "DIR" "DEPS;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${L_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "(_test|_main)\\.cc$")
  file(GLOB headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${L_DIR}/*.h)
  if(srcs)
    add_library(${name} STATIC ${srcs})
    set(scope PUBLIC)
  else()
    add_library(${name} INTERFACE)
    set(scope INTERFACE)
  endif()
  target_include_directories(${name} ${scope} ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} ${scope} ${L_DEPS} ${L_PUBLIC_LIBS})
  if(L_PRIVATE_LIBS)
    if(srcs)
      target_link_libraries(${name} PRIVATE ${L_PRIVATE_LIBS})
    else()
      target_link_libraries(${name} INTERFACE ${L_PRIVATE_LIBS})
    endif()
  endif()
  set_property(GLOBAL APPEND PROPERTY VMK_LIBRARIES ${name})
  set_property(GLOBAL PROPERTY VMK_DIR_${name} ${L_DIR})
  set_property(GLOBAL PROPERTY VMK_DEPS_${name} ${L_DEPS})
  set_property(GLOBAL PROPERTY VMK_FILES_${name} ${srcs} ${headers})
endfunction()

# All project libraries `name` may use: its DEPS and theirs.
function(vmk_transitive_deps name out)
  set(result "")
  set(todo ${name})
  while(todo)
    list(POP_FRONT todo current)
    get_property(deps GLOBAL PROPERTY VMK_DEPS_${current})
    foreach(dep IN LISTS deps)
      if(NOT dep IN_LIST result)
        list(APPEND result ${dep})
        list(APPEND todo ${dep})
      endif()
    endforeach()
  endwhile()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# Writes the layer table (folder, folders it may include, its files) and adds the check_layers
# target, which every project library depends on: a file that includes a header from a folder
# its library does not depend on fails the build, naming both.
function(vmk_check_layers)
  get_property(libs GLOBAL PROPERTY VMK_LIBRARIES)
  set(table "")
  set(all_files "")
  foreach(lib IN LISTS libs)
    get_property(dir GLOBAL PROPERTY VMK_DIR_${lib})
    vmk_transitive_deps(${lib} deps)
    set(allowed "")
    foreach(dep IN LISTS deps)
      get_property(dep_dir GLOBAL PROPERTY VMK_DIR_${dep})
      list(APPEND allowed ${dep_dir})
    endforeach()
    get_property(files GLOBAL PROPERTY VMK_FILES_${lib})
    list(APPEND all_files ${files})
    string(REPLACE ";" "," allowed_text "${allowed}")
    string(REPLACE ";" "," files_text "${files}")
    string(APPEND table "${lib}|${dir}|${allowed_text}|${files_text}\n")
  endforeach()
  file(WRITE ${PROJECT_BINARY_DIR}/vmk_layers.txt "${table}")
  add_custom_command(
    OUTPUT ${PROJECT_BINARY_DIR}/vmk_layers.stamp
    COMMAND ${CMAKE_COMMAND} -DTABLE=${PROJECT_BINARY_DIR}/vmk_layers.txt
            -DROOT=${PROJECT_SOURCE_DIR} -P ${PROJECT_SOURCE_DIR}/cmake/CheckLayers.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${PROJECT_BINARY_DIR}/vmk_layers.stamp
    DEPENDS ${all_files} ${PROJECT_BINARY_DIR}/vmk_layers.txt
            ${PROJECT_SOURCE_DIR}/cmake/CheckLayers.cmake
    COMMENT "Checking that dependencies point inward")
  add_custom_target(check_layers DEPENDS ${PROJECT_BINARY_DIR}/vmk_layers.stamp)
  foreach(lib IN LISTS libs)
    add_dependencies(${lib} check_layers)
  endforeach()
endfunction()
