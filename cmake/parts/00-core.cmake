# core: generic helpers, no mail code
file(GLOB CORE_SRC ${CMAKE_SOURCE_DIR}/src/core/*.c)
add_library(mamori_core STATIC ${CORE_SRC})
target_link_libraries(mamori_core PkgConfig::LIBCONFIG Threads::Threads)

mamori_unit_test(test_core SOURCES tests/unit/test_core.c LIBS mamori_core)

add_test(NAME banned_functions COMMAND bash ${CMAKE_SOURCE_DIR}/tests/check_banned.sh)
set_tests_properties(banned_functions PROPERTIES LABELS style)
