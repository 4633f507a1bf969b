import { useEffect, useState } from "preact/hooks";
import { api, type Credits, type Prices, type TaskSpend } from "../api.ts";
import { budgetToInput, formatCredits, parseBudget } from "../credits.ts";
import { formatCount, formatSeconds } from "../format.ts";
import { routeHref } from "../routes.ts";
import { BuyCredits } from "./buy-credits.tsx";
import { Field } from "./field.tsx";

/**
 * Balance, buying credits (Lightning), budgets, spend per task and prices. 1,000,000 credits are one
 * dollar: shown in dollars.
 */
export function CreditsPanel() {
  const [credits, setCredits] = useState<Credits | undefined>();
  const [spend, setSpend] = useState<TaskSpend[]>([]);
  const [prices, setPrices] = useState<Prices | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [daily, setDaily] = useState("");
  const [weekly, setWeekly] = useState("");
  const [budgetErrors, setBudgetErrors] = useState<{ daily?: string; weekly?: string; form?: string }>({});
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);

  const load = async () => {
    try {
      const [c, s, p] = await Promise.all([api.credits(), api.spendByTask(), api.prices()]);
      setCredits(c);
      setSpend(s);
      setPrices(p);
      setDaily(budgetToInput(c.dailyBudget, c.creditsPerUsd));
      setWeekly(budgetToInput(c.weeklyBudget, c.creditsPerUsd));
      setError(undefined);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => void load(), []);
  // After a purchase: the balance only, so budgets being typed are not overwritten.
  const refreshBalance = () => void api.credits().then(setCredits, (e: Error) => setError(e.message));

  const per = credits?.creditsPerUsd;
  const usd = (n: number) => formatCredits(n, per);

  const saveBudget = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const d = parseBudget(daily, per);
    const w = parseBudget(weekly, per);
    const errs: typeof budgetErrors = {};
    if (!d.ok) errs.daily = d.message;
    if (!w.ok) errs.weekly = w.message;
    setBudgetErrors(errs);
    if (!d.ok || !w.ok) return;
    setBusy(true);
    try {
      await api.setBudget({ daily: d.credits, weekly: w.credits });
      await load();
      setSaved(true);
    } catch (err) {
      setBudgetErrors({ form: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" data-testid="credits-panel">
      <div class="card-head">
        <h2>Credits</h2>
        {credits && !credits.metered && <span class="pill pill-plain pill-neutral">Not billed</span>}
      </div>
      {error && (
        <p class="banner banner-bad pad" role="alert">
          Could not load credits: {error}
        </p>
      )}
      {credits === undefined && !error && <p class="muted pad">Loading…</p>}
      {credits && (
        <div class="credits-body">
          <div class="stat-row">
            <div class="stat">
              <span class="stat-label">Balance</span>
              <span class="stat-value" data-testid="balance">
                {usd(credits.balance)}
              </span>
            </div>
            <div class="stat">
              <span class="stat-label">Can spend now</span>
              <span class="stat-value">{usd(credits.spendable)}</span>
            </div>
            <div class="stat">
              <span class="stat-label">Last 24 h</span>
              <span class="stat-value">{usd(credits.spentDay)}</span>
            </div>
            <div class="stat">
              <span class="stat-label">Last 7 days</span>
              <span class="stat-value">{usd(credits.spentWeek)}</span>
            </div>
          </div>
          {!credits.metered && (
            <p class="muted small">
              This account is not billed: tasks run without spending credits, and budgets apply once billing
              is on.
            </p>
          )}
          <form class="budget-form" onSubmit={saveBudget} noValidate data-testid="budget-form">
            <div class="row-2">
              <Field label="Daily budget ($)" id="b-daily" error={budgetErrors.daily} hint="Empty: no limit.">
                <input
                  id="b-daily"
                  type="text"
                  inputMode="decimal"
                  placeholder="no limit"
                  value={daily}
                  onInput={(e) => setDaily(e.currentTarget.value)}
                />
              </Field>
              <Field
                label="Weekly budget ($)"
                id="b-weekly"
                error={budgetErrors.weekly}
                hint="Empty: no limit."
              >
                <input
                  id="b-weekly"
                  type="text"
                  inputMode="decimal"
                  placeholder="no limit"
                  value={weekly}
                  onInput={(e) => setWeekly(e.currentTarget.value)}
                />
              </Field>
            </div>
            {budgetErrors.form && (
              <p class="banner banner-bad" role="alert">
                {budgetErrors.form}
              </p>
            )}
            <div class="form-actions">
              {saved && (
                <span class="muted small" role="status">
                  Saved
                </span>
              )}
              <button class="button" type="submit" disabled={busy}>
                {busy ? "Saving…" : "Save budgets"}
              </button>
            </div>
          </form>
          <BuyCredits
            perUsd={credits.creditsPerUsd}
            canSell={credits.lightning}
            onCredited={refreshBalance}
          />
          <h3 class="sub-head">Spend per task</h3>
          {spend.length === 0 ? (
            <p class="muted small">No task has spent credits yet.</p>
          ) : (
            <div class="table-wrap">
              <table class="spend-table" data-testid="spend-table">
                <thead>
                  <tr>
                    <th>Task</th>
                    <th>Container</th>
                    <th>Tokens</th>
                    <th>Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {spend.map((s) => (
                    <tr key={s.taskId}>
                      <td>
                        <a class="mono" href={routeHref({ page: "task", id: s.taskId })}>
                          {s.taskId}
                        </a>
                      </td>
                      <td>{formatSeconds(s.containerSeconds)}</td>
                      <td>{formatCount(s.tokens)}</td>
                      <td>{usd(s.credits)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {prices && (
            <details class="advanced">
              <summary>Prices</summary>
              <dl class="kv small">
                <div>
                  <dt>Container</dt>
                  <dd>{usd(prices.containerSecond * 3600)} per hour</dd>
                </div>
                {prices.models.map((m) => (
                  <div key={m.model}>
                    <dt class="mono">{m.model}</dt>
                    <dd>
                      {usd(m.input)} / {usd(m.output)} per million tokens in / out
                    </dd>
                  </div>
                ))}
              </dl>
            </details>
          )}
        </div>
      )}
    </section>
  );
}
