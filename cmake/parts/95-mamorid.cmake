# mamorid: the daemon (libmilter glue, settings snapshots, start-up).
# msgbuild (message rebuilt from milter callbacks) only needs authres.
if(TARGET mamori_authres)
  add_library(mamori_msgbuild STATIC src/milter/msgbuild.c)
  target_link_libraries(mamori_msgbuild mamori_authres mamori_core)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_msgbuild.c)
    mamori_unit_test(test_msgbuild SOURCES tests/unit/test_msgbuild.c LIBS mamori_msgbuild mamori_authbase)
  endif()
endif()

if(TARGET mamori_authcheck AND TARGET mamori_msgbuild)
  add_executable(mamorid src/milter/mamorid.c src/milter/milter.c src/milter/settings.c)
  target_link_libraries(mamorid mamori_msgbuild mamori_authcheck ${MILTER_LIB} Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_mamorid.sh)
    # drives mamorid through a private Postfix instance; 77 = skipped
    # (no postfix, not root)
    set(_mamorid_args "")
    if(TARGET mamori)
      list(APPEND _mamorid_args --mamori $<TARGET_FILE:mamori>)
    endif()
    if(TARGET dkim_tool)
      list(APPEND _mamorid_args --dkim-tool $<TARGET_FILE:dkim_tool>)
    endif()
    add_test(NAME test_mamorid
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_mamorid.sh $<TARGET_FILE:mamorid> ${_mamorid_args})
    set_tests_properties(test_mamorid PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 180)
  endif()
endif()
