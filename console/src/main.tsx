/**
 * The Lazarus console: the fleet, its incidents and every evacuation, live, over the same API as the CLI.
 * It reads `config.json` beside the page (the API's URL, the user pool and identity pool), signs the user in
 * (auth.ts), and polls the API (live.ts); the views are in views/, the actions in actions.tsx.
 */
import { render } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import type { ConsoleConfig } from "#shared/definitions/console.js";
import { type ActionPlan, ConfirmDialog, ConsoleContext, type ConsoleContextValue } from "./actions.js";
import { Api } from "./api.js";
import { Auth, type SignedInUser } from "./auth.js";
import { useNow, usePoll } from "./live.js";
import {
  type CapacityView,
  formatAge,
  type HostView,
  type IncidentSummary,
  type MigrationView,
  type ServerView,
  workItems,
} from "./model.js";
import { apiSigner } from "./sigv4.js";
import { Fleet } from "./views/Fleet.js";
import { Incidents } from "./views/Incidents.js";
import { Instances } from "./views/Instances.js";
import { Work } from "./views/Work.js";

type ViewName = "fleet" | "incidents" | "instances" | "work";
const VIEWS: { name: ViewName; label: string }[] = [
  { name: "fleet", label: "Fleet" },
  { name: "incidents", label: "Incidents" },
  { name: "instances", label: "Instances" },
  { name: "work", label: "Waiting for you" },
];

function parseHash(hash: string): { view: ViewName; id: string | null } {
  const [view, id] = hash.replace(/^#/, "").split("/");
  const known = VIEWS.find((v) => v.name === view);
  return { view: known?.name ?? "fleet", id: id ? decodeURIComponent(id) : null };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function Console(props: { config: ConsoleConfig; auth: Auth; user: SignedInUser }) {
  const { config, auth, user } = props;
  const api = useMemo(
    () => new Api(config.apiUrl, apiSigner(config.region, auth.credentials)),
    [config, auth],
  );
  const [nudges, setNudges] = useState(0);
  const [plan, setPlan] = useState<ActionPlan | null>(null);
  const route = useRoute();
  const now = useNow();
  const poll = config.pollMs;
  const hosts = usePoll<{ hosts: HostView[] }>(api, "/os-hosts", poll, nudges);
  const servers = usePoll<{ servers: ServerView[] }>(api, "/servers/detail", poll, nudges);
  const incidents = usePoll<{ incidents: IncidentSummary[] }>(api, "/os-incidents", poll, nudges);
  const migrations = usePoll<{ migrations: MigrationView[] }>(api, "/os-migrations", poll * 2, nudges);
  const capacity = usePoll<{ evacuation_capacity: CapacityView }>(
    api,
    "/os-evacuation-capacity",
    poll * 3,
    nudges,
  );

  const hostList = hosts.data?.hosts ?? [];
  const serverList = servers.data?.servers ?? [];
  const incidentList = incidents.data?.incidents ?? [];
  const work = workItems(hostList, serverList, incidentList);
  const context: ConsoleContextValue = {
    api,
    role: user.role,
    hosts: new Map(hostList.map((h) => [h.host_name, h])),
    nudge: useCallback(() => setNudges((n) => n + 1), []),
    confirm: setPlan,
  };
  const errors = [hosts, servers, incidents].map((p) => p.error).filter((e): e is string => e !== null);
  const updated = Math.min(...[hosts.at, servers.at, incidents.at].map((t) => t ?? 0));
  const loaded = hosts.data !== null && servers.data !== null && incidents.data !== null;

  useEffect(() => {
    document.title = work.length ? `(${work.length}) Lazarus console` : "Lazarus console";
  }, [work.length]);

  return (
    <ConsoleContext.Provider value={context}>
      <header class="top">
        <span class="brand">
          Lazarus <span class="muted">console</span>
        </span>
        <span class="env mono small" title="The API this console calls">
          {new URL(config.apiUrl).host}
        </span>
        <span class={`live ${errors.length ? "bad" : "ok"}`} role="status" aria-live="polite" data-live="">
          {errors.length
            ? `Cannot read the API: ${errors[0]}`
            : loaded
              ? `Live · updated ${formatAge((now - updated) / 1000)}`
              : "Connecting…"}
        </span>
        <span class="user">
          <span data-user="">{user.username}</span>{" "}
          <span
            class={`badge ${user.role === "operate" ? "busy" : "neutral"}`}
            data-role={user.role ?? "none"}
          >
            {user.role === "operate" ? "operator" : "read-only"}
          </span>
          <button type="button" class="link" onClick={() => auth.signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <nav class="tabs" aria-label="Views">
        {VIEWS.map((v) => (
          <a
            key={v.name}
            href={`#${v.name}`}
            aria-current={route.view === v.name ? "page" : undefined}
            data-tab={v.name}
          >
            {v.label}
            {v.name === "work" && work.length > 0 && (
              <span class="count" data-work-count={work.length}>
                {work.length}
              </span>
            )}
            {v.name === "incidents" &&
              incidentList.some((i) => ["confirming", "evacuating", "held"].includes(i.status)) && (
                <span class="count live-dot" title="An incident is open">
                  open
                </span>
              )}
          </a>
        ))}
      </nav>
      <main id="main">
        {!loaded ? (
          <p class="muted pad">{errors[0] ?? "Reading the fleet…"}</p>
        ) : route.view === "fleet" ? (
          <Fleet
            hosts={hostList}
            servers={serverList}
            capacity={capacity.data?.evacuation_capacity ?? null}
            now={now}
          />
        ) : route.view === "incidents" ? (
          <Incidents incidents={incidentList} selected={route.id} pollMs={poll} nudge={nudges} now={now} />
        ) : route.view === "instances" ? (
          <Instances
            servers={serverList}
            migrations={migrations.data?.migrations ?? []}
            selected={route.id}
            pollMs={poll}
            nudge={nudges}
          />
        ) : (
          <Work items={work} />
        )}
      </main>
      <ConfirmDialog plan={plan} onClose={() => setPlan(null)} />
    </ConsoleContext.Provider>
  );
}

function SignIn(props: { auth: Auth; error: string | null }) {
  return (
    <main class="signin">
      <div class="signin-card">
        <h1>
          Lazarus <span class="muted">console</span>
        </h1>
        <p>The fleet, its incidents and every evacuation, live. Sign in with your Lazarus user.</p>
        {props.error && (
          <p class="callout bad" role="alert">
            {props.error}
          </p>
        )}
        <button
          type="button"
          class="primary"
          data-signin=""
          onClick={() => void props.auth.signIn()}
          autofocus
        >
          Sign in
        </button>
      </div>
    </main>
  );
}

function NoRole(props: { auth: Auth; user: SignedInUser }) {
  return (
    <main class="signin">
      <div class="signin-card">
        <h1>Not allowed</h1>
        <p>
          {props.user.username} is in neither the <code>operator</code> nor the <code>read-only</code> group
          of the user pool: ask an administrator to add you to one.
        </p>
        <button type="button" onClick={() => props.auth.signOut()}>
          Sign out
        </button>
      </div>
    </main>
  );
}

async function start(root: HTMLElement): Promise<void> {
  const res = await fetch("config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  const config = (await res.json()) as ConsoleConfig;
  const auth = new Auth(config);
  let error: string | null = null;
  try {
    await auth.completeSignIn();
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const user = auth.user();
  root.textContent = "";
  render(
    !user ? (
      <SignIn auth={auth} error={error} />
    ) : !user.role ? (
      <NoRole auth={auth} user={user} />
    ) : (
      <Console config={config} auth={auth} user={user} />
    ),
    root,
  );
}

const root = document.getElementById("app")!;
start(root).catch((e: unknown) => {
  root.textContent = `The console could not start: ${e instanceof Error ? e.message : String(e)}`;
});
