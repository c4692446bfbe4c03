/**
 * The host documents' `allowedPattern`s are as tight as the zod schemas of the same values (what SSM lets
 * through, the control plane's schemas accept, and the reverse), and bash's `=~` on the host reads each
 * pattern as JavaScript does (the scripts check every parameter again with it).
 */
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BMC_ADDRESS_MAX_CHARS,
  BMC_ADDRESS_PATTERN,
  BMC_CREDENTIAL_ID_PATTERN,
  BMC_USERNAME_PATTERN,
  BmcAddress,
  BmcCredentials,
  BmcUsername,
  OPTIONAL_REDFISH_PATH_PATTERN,
  REDFISH_PATH_MAX_CHARS,
  RedfishPath,
  SSM_PARAMETER_NAME_MAX_CHARS,
} from "#shared/domain/bmc.js";
import {
  ABSOLUTE_PATH_MAX_CHARS,
  ABSOLUTE_PATH_PATTERN,
  AbsolutePath,
  AWS_REGION_PATTERN,
  DISK_DEVICE_PATTERN,
  DISK_GIB_MAX,
  DISK_GIB_PATTERN,
  DiskDevice,
  DOMAIN_UUID_PATTERN,
  FILE_NAME_PATTERN,
  FileName,
  IMAGE_REF_PATTERN,
  ImageRef,
  integerRangePattern,
  SECONDS_UP_TO_A_DAY_PATTERN,
  Uuid,
} from "#shared/domain/values.js";
import { AwsRegion } from "#shared/hosts/fence-agent.js";
import { EXECUTION_TIMEOUT_PATTERN } from "#ssm-documents/document.js";

const matches = (pattern: string, value: string) => new RegExp(pattern).test(value);

/** Strings near the edge of each alphabet: letters, digits, the path punctuation, dots, slashes, the rest. */
const edgy = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._/@+=,-]{0,40}$/),
  fc
    .array(fc.constantFrom("/", ".", "..", "a", "-", "_", " ", "'", "$", "\n", "é", "/.."), { maxLength: 12 })
    .map((p) => p.join("")),
  fc.string({ maxLength: 30 }),
);
const uuidish = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.stringMatching(/^[0-9a-fA-F-]{30,40}$/),
  fc.constantFrom("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
);

describe("patterns as tight as the schemas", () => {
  it("domain uuid: zod's uuid in lower case (virsh's spelling, the builders lower-case)", () => {
    fc.assert(
      fc.property(uuidish, (v) => {
        expect(matches(DOMAIN_UUID_PATTERN, v), v).toBe(Uuid.safeParse(v).success && v === v.toLowerCase());
      }),
      { numRuns: 2000 },
    );
  });

  it("absolute path: the schema's alphabet, no '..' segment, within its length", () => {
    fc.assert(
      fc.property(edgy, (v) => {
        const byPattern = matches(ABSOLUTE_PATH_PATTERN, v) && v.length <= ABSOLUTE_PATH_MAX_CHARS;
        expect(byPattern, JSON.stringify(v)).toBe(AbsolutePath.safeParse(v).success);
      }),
      { numRuns: 3000 },
    );
  });

  it("disk device, image ref, file name", () => {
    fc.assert(
      fc.property(edgy, (v) => {
        expect(matches(DISK_DEVICE_PATTERN, v)).toBe(DiskDevice.safeParse(v).success);
        expect(matches(IMAGE_REF_PATTERN, v)).toBe(ImageRef.safeParse(v).success);
        expect(matches(FILE_NAME_PATTERN, v)).toBe(FileName.safeParse(v).success);
      }),
      { numRuns: 2000 },
    );
  });

  it("integer ranges: exactly the decimal integers in range, no sign, no leading zero", () => {
    const cases: [string, number, number][] = [
      [DISK_GIB_PATTERN, 1, DISK_GIB_MAX],
      [SECONDS_UP_TO_A_DAY_PATTERN, 0, 86_400],
      [EXECUTION_TIMEOUT_PATTERN, 1, 172_800],
      [integerRangePattern(7, 1234), 7, 1234],
      [integerRangePattern(0, 0), 0, 0],
    ];
    for (const [pattern, min, max] of cases) {
      for (let i = 0; i <= max + 20; i += max > 5000 ? 7 : 1) {
        expect(matches(pattern, String(i)), `${pattern} ${i}`).toBe(i >= min && i <= max);
      }
      for (const n of [max, max + 1, min, min - 1])
        expect(matches(pattern, String(n))).toBe(n >= min && n <= max);
      for (const bad of ["", "01", "-1", "+1", "1.0", " 1", "1\n", "1e3"])
        expect(matches(pattern, bad), bad).toBe(false);
    }
  });
});

describe("the fence's patterns (fence-through-delegate) and the BMC schemas", () => {
  const hex = fc.stringMatching(/^[0-9a-fA-F]{1,4}$/);
  const addresses = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.domain(),
    fc.array(fc.oneof(hex, fc.constant("")), { minLength: 2, maxLength: 9 }).map((p) => p.join(":")),
    fc.stringMatching(/^[0-9.]{1,20}$/),
    edgy,
  );

  it("address: what the schema accepts, and beyond it only digits and dots (no letter: not a host name)", () => {
    fc.assert(
      fc.property(addresses, (v) => {
        const byPattern = matches(BMC_ADDRESS_PATTERN, v) && v.length <= BMC_ADDRESS_MAX_CHARS;
        const bySchema = BmcAddress.safeParse(v).success;
        if (bySchema) expect(byPattern, v).toBe(true);
        else if (byPattern)
          // No letter (digits, dots, hyphens: "0-0"): neither an address nor a host name, nothing the shell
          // reads; the delegate's fence_ipmilan cannot resolve it.
          expect(v, "only a name without a letter passes SSM and not the schema").toMatch(/^[0-9.-]+$/);
      }),
      { numRuns: 4000 },
    );
  });

  it("credential id: a secret or a parameter, as the credentials' schema", () => {
    const ids = fc.oneof(
      edgy,
      fc.stringMatching(
        /^arn:aws:(secretsmanager|ssm):[a-z0-9-]{3,12}:[0-9]{12}:(secret:|parameter\/)[A-Za-z0-9/_.-]{1,20}$/,
      ),
    );
    fc.assert(
      fc.property(ids, (v) => {
        const bySchema =
          BmcCredentials.safeParse({ secretsManager: v }).success ||
          BmcCredentials.safeParse({ ssmParameter: v }).success;
        const byPattern = matches(BMC_CREDENTIAL_ID_PATTERN, v) && v.length <= SSM_PARAMETER_NAME_MAX_CHARS;
        expect(byPattern, JSON.stringify(v)).toBe(bySchema);
      }),
      { numRuns: 3000 },
    );
  });

  it("user name, Redfish path, region", () => {
    fc.assert(
      fc.property(edgy, (v) => {
        expect(matches(BMC_USERNAME_PATTERN, v)).toBe(BmcUsername.safeParse(v).success);
        expect(matches(OPTIONAL_REDFISH_PATH_PATTERN, v) && v.length <= REDFISH_PATH_MAX_CHARS).toBe(
          v === "" || RedfishPath.safeParse(v).success,
        );
        expect(matches(AWS_REGION_PATTERN, v)).toBe(AwsRegion.safeParse(v).success);
      }),
      { numRuns: 3000 },
    );
    for (const path of ["/redfish/v1/Systems/1", "/redfish/v1/"])
      expect(matches(OPTIONAL_REDFISH_PATH_PATTERN, path)).toBe(true);
    for (const region of ["eu-west-1", "us-gov-west-1", "ap-southeast-2"])
      expect(matches(AWS_REGION_PATTERN, region)).toBe(true);
  });
});

describe("bash reads every pattern as JavaScript does", () => {
  it("the same verdicts for the same values through [[ =~ ]]", () => {
    const patterns = [
      DOMAIN_UUID_PATTERN,
      ABSOLUTE_PATH_PATTERN,
      DISK_DEVICE_PATTERN,
      DISK_GIB_PATTERN,
      BMC_ADDRESS_PATTERN,
      BMC_CREDENTIAL_ID_PATTERN,
      OPTIONAL_REDFISH_PATH_PATTERN,
    ];
    const values = fc.sample(
      fc.oneof(
        edgy,
        uuidish,
        fc.integer({ min: -5, max: 70_000 }).map(String),
        fc.ipV6(),
        fc.ipV4(),
        fc.domain(),
      ),
      400,
    );
    values.push("/a/../b", "/..", "/...", "/.x", "vda", "65536", "65537", "0", "::", "::1", "fe80::1:2", "");
    // One bash for all: each line "<pattern index> <value>" is answered 1 (match) or 0.
    const lines = values.flatMap((v) => patterns.map((_, i) => `${i}\t${Buffer.from(v).toString("base64")}`));
    const script = [
      ...patterns.map((p, i) => `p[${i}]='${p}'`),
      'while IFS=$\'\\t\' read -r i b; do v="$(printf \'%s\' "$b" | base64 -d; printf x)"; v="${v%x}";',
      "  if [[ $v =~ ${p[$i]} ]]; then echo 1; else echo 0; fi",
      "done",
    ].join("\n");
    const r = spawnSync("bash", ["--norc", "--noprofile", "-c", script], {
      input: `${lines.join("\n")}\n`,
      encoding: "utf8",
      env: { LC_ALL: "C", PATH: process.env.PATH ?? "/usr/bin:/bin" },
    });
    expect(r.stderr).toBe("");
    const verdicts = r.stdout.trim().split("\n");
    let k = 0;
    for (const v of values) {
      for (const p of patterns) {
        expect(verdicts[k++], `${p} ${JSON.stringify(v)}`).toBe(matches(p, v) ? "1" : "0");
      }
    }
  });
});
