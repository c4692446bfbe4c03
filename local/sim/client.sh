#!/bin/bash
# @TOOL@ of a simulated host: asks the local cloud's hypervisor model (local/sim/hypervisor.ts) over loopback.
# Request: NUL-terminated token, tool, argument count, arguments. Answer: "o "/"e " lines, then "x CODE".
exec 3<>"/dev/tcp/127.0.0.1/${LAZARUS_SIM_PORT:?}" || { echo "error: failed to connect to the hypervisor" >&2; exit 1; }
printf '%s\0' "${LAZARUS_SIM_TOKEN:?}" @TOOL@ "$#" "$@" >&3
lz_code=1
while IFS= read -r lz_line <&3; do
  case "$lz_line" in
    "o "*) printf '%s\n' "${lz_line:2}" ;;
    "e "*) printf '%s\n' "${lz_line:2}" >&2 ;;
    "x "*) lz_code="${lz_line:2}"; break ;;
  esac
done
exec 3<&-
exit "$lz_code"
