# authbase: raw message splitting and the RFC 6376 tag-list parser, shared by
# dkim, arc and dmarc
add_library(mamori_authbase STATIC src/auth/message.c src/auth/taglist.c)
target_link_libraries(mamori_authbase mamori_core)
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_authbase.c)
  mamori_unit_test(test_authbase SOURCES tests/unit/test_authbase.c LIBS mamori_authbase)
endif()
