# Writes OUT = a header defining INVDIFF_GIT_COMMIT (git describe of SRC: the short hash, with
# "-dirty" when the tree has uncommitted changes; "unknown" outside git). Run at every build by
# the invdiff_git_commit target; the file is rewritten only when the text changes, so an
# unchanged commit rebuilds nothing.
execute_process(COMMAND git describe --always --dirty --abbrev=7 WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT commit)
  set(commit "unknown")
endif()
set(text "#pragma once\n#define INVDIFF_GIT_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
