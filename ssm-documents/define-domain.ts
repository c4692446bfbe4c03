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
    '[ "$(grep -c "<uuid>" "$lz_tmp")" = 1 ] && grep -qxF "  <uuid>$uuid</uuid>" "$lz_tmp" || lz_refuse "it does not name domain $uuid (once)"',
    // Every element is one Lazarus writes (no DOCTYPE, entity, comment or processing instruction either).
    "while read -r lz_el; do",
    '  case "$lz_el" in',
    `    ${DOMAIN_XML_ELEMENTS.join("|")}) ;;`,
    '    *) lz_refuse "element <$lz_el> is not one Lazarus writes" ;;',
    "  esac",
    "done < <(grep -oE '<[^/ >]+' \"$lz_tmp\" | sed 's/^<//' | sort -u)",
    // Each kind of device only as Lazarus writes it (a grep's output, never a pipeline's status, decides).
    `lz_bad="$(grep -oE '<disk[^>]*>' "$lz_tmp" | grep -vxF '<disk type="file" device="disk">' || true)"`,
    '[ -z "$lz_bad" ] || lz_refuse "a disk that is not a file: $lz_bad"',
    `lz_bad="$(grep -oE '<interface[^>]*>' "$lz_tmp" | grep -vxE '<interface type="(user|bridge)">' || true)"`,
    '[ -z "$lz_bad" ] || lz_refuse "an interface that is not user or bridge networking: $lz_bad"',
    `lz_bad="$(grep -oE '<(serial|console)[^>]*>' "$lz_tmp" | grep -vxE '<(serial|console) type="(pty|file)">' || true)"`,
    '[ -z "$lz_bad" ] || lz_refuse "a console that is not a pty or a file: $lz_bad"',
    `lz_bad="$(grep -oE '<source[^>]*>' "$lz_tmp" | grep -vxE '<source (file|bridge)="[^"&<>]*"/>|<source path="[^"&<>]*" append="on"/>' || true)"`,
    '[ -z "$lz_bad" ] || lz_refuse "a source that is not a file, a bridge or the console log: $lz_bad"',
    // A console's file is the instance's own log, nothing else (a `path` source writes where it names).
    `lz_bad="$(grep -oE '<source path="[^"]*"' "$lz_tmp" | grep -vxF '<source path="'"$lz_dir/${LAYOUT.consoleLog}"'"' || true)"`,
    '[ -z "$lz_bad" ] || lz_refuse "a console file that is not the instance\'s console log: $lz_bad"',
    `while read -r lz_src; do`,
    '  case "$lz_src" in',
    '    */../*|*/..) lz_refuse "disk $lz_src climbs out of its folder" ;;',
    '    "$lz_dir"/*|"$lz_volumes"*) ;;',
    '    *) lz_refuse "disk $lz_src is outside the instance\'s folder and the volumes folder" ;;',
    "  esac",
    `done < <(grep -oE '<source file="[^"]*"/>' "$lz_tmp" | sed -e 's/^<source file="//' -e 's/"\\/>$//')`,
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
