#!/usr/bin/env bash
# Source checks that the compiler does not make (curl's checksrc idea):
# banned functions and lines over 79 columns in our C. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'libcommon/*.[ch]' 'services/*.[ch]' 'tests/*.[ch]' \
	'proto/*.h' 2>/dev/null || find libcommon services tests proto \
	-name '*.[ch]')
n=0
check() { # check NAME OUTPUT
	n=$((n + 1))
	if [ -z "$2" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		echo "$2" | sed 's/^/#   /'
	fi
}
# unbounded copies and formatting, unchecked conversions, hidden state
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|atof|strtok|strncpy|tmpnam|mktemp)[[:space:]]*\('
# shellcheck disable=SC2086
check "no banned functions" "$(grep -nE "$banned" $files | grep -vE '^\S+:[0-9]+:\s*(/?\*|//)')"
# shellcheck disable=SC2086
check "lines fit 79 columns" "$(awk '{ gsub(/\t/, "        "); if (length($0) > 79) print FILENAME ":" FNR }' $files)"
echo "1..$n"
