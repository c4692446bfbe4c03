import {
  ABSOLUTE_PATH_MAX_CHARS,
  ABSOLUTE_PATH_PATTERN,
  BASE64_PATTERN,
  BOOLEAN_PATTERN,
} from "#shared/domain/values.js";
import { DOMAIN_XML_ELEMENTS } from "#shared/hosts/domain-xml.js";
import { LAYOUT } from "#shared/hosts/layout.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID, INSTANCES_PATH } from "./parameters.js";
import { startDefined } from "./snippets.js";

/** The largest domain XML a command carries, base64 (SSM: document and parameters together under 64 KB). */
export const DOMAIN_XML_MAX_CHARS = 32_768;
/** Exit code when the domain XML is refused (not a domain Lazarus would write). */
export const EXIT_XML_REFUSED = 65;

/**
 * The domain XML check, an awk program (POSIX awk; Debian's mawk): prints why the XML is refused, nothing
 * when it is one Lazarus could have written. Reads LZ_DIR (the instance's folder), LZ_VOLUMES (the volumes
 * folder, with its trailing slash) and LZ_UUID from the environment (awk's `-v` would interpret backslashes).
 * Lazarus writes each tag on one line and escapes `<`, `>`, tabs and line ends inside values
 * (domain-xml.ts), so the checks read line by line, and a tag spread over lines (which a line's check
 * would not see whole) or a control character is refused first. The checks, first failure reported in
 * this order: the XML names this domain once; every element is one Lazarus writes (no DOCTYPE, entity,
 * comment or processing instruction either); each kind of device only as Lazarus writes it; a console's
 * file is the instance's own log (a `path` source writes where it names); each disk inside the instance's
 * folder or the volumes folder, never climbing out. The program holds no single quote: it is quoted whole.
 * A function, not a constant: a document module has no side effect (test/unit/cdk/host-documents.test.ts).
 */
function xmlCheck(): string {
  return String.raw`
function refuse(k, why) { if (!(k in reason)) reason[k] = why }
function each(s, re, k, ok, why,   m) {
  while (match(s, re)) {
    m = substr(s, RSTART, RLENGTH)
    if (m !~ ok) refuse(k, why m)
    s = substr(s, RSTART + RLENGTH)
  }
}
BEGIN {
  n = split("${DOMAIN_XML_ELEMENTS.join(" ")}", list, " ")
  for (i = 1; i <= n; i++) allowed[list[i]] = 1
  dir = ENVIRON["LZ_DIR"]; volumes = ENVIRON["LZ_VOLUMES"]
  named = "  <uuid>" ENVIRON["LZ_UUID"] "</uuid>"
  consoleLog = "<source path=\"" dir "/${LAYOUT.consoleLog}\""
}
{
  t = $0; gsub(/[ -~\200-\377]/, "", t)
  if (t != "") refuse(0, "a control character (Lazarus writes none but line ends)")
  t = $0; gsub(/<[^<>]*>/, "", t)
  if (t ~ /[<>]/) refuse(0, "a tag across lines or a bare < or > (Lazarus writes neither)")
  if (index($0, "<uuid>")) uuids++
  if ($0 == named) found = 1
  s = $0
  while (match(s, /<[^\/ >]+/)) {
    el = substr(s, RSTART + 1, RLENGTH - 1)
    if (!(el in allowed)) refuse(2, "element <" el "> is not one Lazarus writes")
    s = substr(s, RSTART + RLENGTH)
  }
  each($0, "<disk[^>]*>", 3, "^<disk type=\"file\" device=\"disk\">$", "a disk that is not a file: ")
  each($0, "<interface[^>]*>", 4, "^<interface type=\"(user|bridge)\">$", "an interface that is not user or bridge networking: ")
  each($0, "<(serial|console)[^>]*>", 5, "^<(serial|console) type=\"(pty|file)\">$", "a console that is not a pty or a file: ")
  each($0, "<source[^>]*>", 6, "^(<source (file|bridge)=\"[^\"&<>]*\"/>|<source path=\"[^\"&<>]*\" append=\"on\"/>)$", "a source that is not a file, a bridge or the console log: ")
  s = $0
  while (match(s, /<source path="[^"]*"/)) {
    m = substr(s, RSTART, RLENGTH)
    if (m != consoleLog) refuse(7, "a console file that is not the instance\047s console log: " m)
    s = substr(s, RSTART + RLENGTH)
  }
  s = $0
  while (match(s, /<source file="[^"]*"\/>/)) {
    src = substr(s, RSTART + 14, RLENGTH - 17)
    s = substr(s, RSTART + RLENGTH)
    if (index(src, "/../") || src ~ /\/\.\.$/) refuse(8, "disk " src " climbs out of its folder")
    else if (substr(src, 1, length(dir) + 1) != dir "/" && substr(src, 1, length(volumes)) != volumes)
      refuse(8, "disk " src " is outside the instance\047s folder and the volumes folder")
  }
}
END {
  if (uuids != 1 || !found) refuse(1, "it does not name domain " ENVIRON["LZ_UUID"] " (once)")
  for (k = 0; k <= 8; k++) if (k in reason) { print reason[k]; exit }
}`;
}

/**
 * Spawn: an instance's domain defined (autostart off) and started unless it is to end stopped. The XML is
 * checked on the host before libvirt sees it, so whoever may send this document can define the domain it
 * names and nothing else: it must name that uuid, use only the elements Lazarus writes
 * (DOMAIN_XML_ELEMENTS: no host device, no qemu command line), file-backed disks only, each inside the
 * instance's folder or the volumes folder, user or bridge networking, consoles on a pty or on the instance's
 * own `console.log` (nova's serial console log, what os-getConsoleOutput reads). It is written beside the
 * disk as `libvirt.xml` (nova's layout), through a temporary file, and defined from there.
 */
export const DEFINE_DOMAIN: HostDocument<
  "uuid" | "instancesPath" | "volumesPath" | "domainXml" | "start" | "knownAbsent"
> = {
  id: "define-domain",
  description:
    "Lazarus: check a domain XML, write it as <instancesPath>/<uuid>/libvirt.xml, define it (autostart off), and start it if asked.",
  parameters: {
    uuid: DOMAIN_UUID,
    instancesPath: INSTANCES_PATH,
    volumesPath: {
      description: "The host's volumes folder: the only other place a disk of the domain may be.",
      allowedPattern: ABSOLUTE_PATH_PATTERN,
      maxChars: ABSOLUTE_PATH_MAX_CHARS,
    },
    domainXml: {
      description: "The domain XML, base64-encoded.",
      allowedPattern: BASE64_PATTERN,
      maxChars: DOMAIN_XML_MAX_CHARS,
    },
    start: {
      description: "true: start the domain once defined.",
      allowedPattern: BOOLEAN_PATTERN,
      maxChars: 5,
    },
    knownAbsent: {
      description:
        "true: the caller proved the domain not defined here (a new definition has autostart off already).",
      allowedPattern: BOOLEAN_PATTERN,
      maxChars: 5,
      default: "false",
    },
  },
  script: () => [
    'lz_dir="${instancesPath%/}/$uuid"',
    'lz_volumes="${volumesPath%/}/"',
    `lz_xml="$lz_dir/${LAYOUT.domainXml}"`,
    'lz_tmp="$lz_xml.lazarus-tmp"',
    `lz_refuse() { echo "domain XML refused: $1" >&2; rm -f -- "$lz_tmp"; exit ${EXIT_XML_REFUSED}; }`,
    'mkdir -p -- "$lz_dir"',
    'printf \'%s\' "$domainXml" | base64 -d > "$lz_tmp"',
    // One awk process reads the XML once for every check (a check per grep cost about 20 forks per spawn,
    // on every evacuated instance's critical path while a host evacuation starts them all at once).
    `lz_why="$(LZ_DIR="$lz_dir" LZ_VOLUMES="$lz_volumes" LZ_UUID="$uuid" awk '${xmlCheck()}' "$lz_tmp")" || lz_refuse "the check itself failed"`,
    '[ -z "$lz_why" ] || lz_refuse "$lz_why"',
    'mv -f -- "$lz_tmp" "$lz_xml"',
    // libvirt creates a file console's log 0600 for the host's qemu user when it starts the domain. Hosts
    // sharing a pool may run qemu as different users of one group (the local cloud's hosts do), and a live
    // migration's target opens the log while its source still writes it: the log is made group-writable
    // before libvirt first opens it, which then keeps its mode.
    `lz_log="$lz_dir/${LAYOUT.consoleLog}"`,
    '[ -e "$lz_log" ] || { : > "$lz_log" && chmod 0660 -- "$lz_log"; }',
    'virsh define "$lz_xml"',
    // A domain defined anew has autostart off already; a definition that replaces one may not.
    'if [ "$knownAbsent" != true ]; then virsh autostart --disable "$uuid"; fi',
    'if [ "$start" = true ]; then',
    // The name Lazarus wrote (one <name>, checked above with the rest): the domain's qemu log is named by it.
    `  lz_name="$(sed -n 's:^  <name>\\(.*\\)</name>$:\\1:p' "$lz_xml")"`,
    ...startDefined("uuid", "lz_name"),
    "fi",
  ],
  executionTimeoutSeconds: 120,
};
