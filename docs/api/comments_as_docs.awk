# Doxygen input filter: typegrad's headers document each declaration with plain // comments right above it, and
# each file with the comment block after #pragma once. This turns the first into /// and the second into the
# file's documentation (#pragma once becomes /// \file). One line out per line in, so line numbers hold.
BEGIN { head = 1 }
head && /^#pragma once/ { print "/// \\file"; next }
head && /^\/\/ ?/ { line = $0; sub(/^\/\/ ?/, "", line); print "/// " line; next }
{ head = 0 }
/^[ \t]*\/\/ / && !/^[ \t]*\/\/\// { sub(/\/\/ /, "/// "); print; next }
{ print }
