/**
 * Work waiting for a person (model.ts `workItems`): instances "fencing required", incidents held by the
 * mass-failure guard, instances in ERROR, hosts back but disabled, drift found by the fleet sync; each with
 * the actions that resolve it.
 */
import { ActionButton, useConsole } from "../actions.js";
import type { WorkItem } from "../model.js";

const KIND_LABEL: Record<WorkItem["kind"], string> = {
  "fencing-required": "fencing required",
  held: "held for an operator",
  error: "error",
  disabled: "disabled",
  drift: "drift",
};

export function Work(props: { items: WorkItem[] }) {
  const c = useConsole();
  return (
    <section aria-labelledby="work-title" class="view">
      <h2 id="work-title">Waiting for you</h2>
      {props.items.length === 0 && <p class="muted">Nothing waits for a person.</p>}
      <ul class="work">
        {props.items.map((w) => (
          <li key={w.key} class={`work-item ${w.kind}`} data-work={w.kind}>
            <span class={`badge ${w.kind === "disabled" || w.kind === "drift" ? "warn" : "bad"}`}>
              {KIND_LABEL[w.kind]}
            </span>
            <div class="work-text">
              <strong>{w.title}</strong>
              <p>{w.detail}</p>
            </div>
            <div class="work-actions">
              {c.role === "operate" ? (
                w.actions.map((a, i) => <ActionButton key={`${a.kind}-${i}`} action={a} primary={i === 0} />)
              ) : (
                <span class="muted small">an operator can resolve it</span>
              )}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
