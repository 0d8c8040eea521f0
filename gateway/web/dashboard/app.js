// The AgentWatch dashboard: one page over the gateway's admin API (/api/*) and the knowledge
// server's REST API (/api/knowledge/*), drawn with Preact + htm and Chart.js, both served by the
// binary itself. Every value from the server is rendered as text, never as HTML: repository
// content (finding messages, code) is untrusted.
'use strict';

const { html, render, useState, useEffect, useRef } = htmPreact;

// ------------------------------------------------------------------ the API --

const TOKEN = 'agentwatch.session';
let onSignedOut = () => {};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { message: text } };
  }
  if (response.status === 401 && token) {
    sessionStorage.removeItem(TOKEN);
    onSignedOut('Your session ended: log in again.');
  }
  if (!response.ok) {
    const message = data?.error?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  return q.toString();
};

/// Loads `load()` whenever `deps` change (and on `reload()`), keeping the last data while loading.
function useLoad(load, deps) {
  const [state, setState] = useState({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/// Calls `fn` every `ms` while `active`.
function useEvery(ms, active, fn) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return undefined;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms, active]);
}

// ------------------------------------------------------------------ formats --

const ROLES = ['viewer', 'member', 'admin'];
const can = (user, role) => ROLES.indexOf(user.role) >= ROLES.indexOf(role);
/// Dollars to the cent, and fractions of a cent (what a few small requests cost) to two figures.
const usd = (n) =>
  n > 0 && n < 0.01
    ? `$${Number(n.toPrecision(2))}`
    : `$${(n ?? 0).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const int = (n) => (n ?? 0).toLocaleString('en-US');
const day = (d) => d.toISOString().slice(0, 10);
const daysAgo = (n) => day(new Date(Date.now() - n * 86400000));
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

function ago(seconds) {
  if (seconds == null) return 'never';
  const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

const Badge = ({ value, kind }) => html`<span class=${`badge ${kind ?? value}`}>${value}</span>`;
const Failure = ({ error }) => (error ? html`<div class="error" role="alert">${error.message}</div>` : null);

function Gauge({ spent, budget, label }) {
  if (budget == null) return html`<span class="muted">${usd(spent)} · no ${label} budget</span>`;
  return html`<span title=${`${usd(spent)} of ${usd(budget)} ${label}`}>
    <meter min="0" max=${budget} low=${budget * 0.8} high=${budget * 0.999} optimum="0" value=${Math.min(spent, budget)}></meter>
    ${' '}${usd(spent)} / ${usd(budget)}</span>`;
}

// ------------------------------------------------------------------- charts --

const PALETTE = ['#3559e0', '#e0730f', '#1f9d55', '#c2306b', '#7c4ddb', '#0e9aa7', '#a3a10b', '#8b5e34', '#d03030', '#4b5563'];

/// A Chart.js chart, drawn again whenever its data change.
function ChartView({ id, type, data, options }) {
  const canvas = useRef();
  useEffect(() => {
    const chart = new Chart(canvas.current, {
      type,
      data,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...options },
    });
    return () => chart.destroy();
  }, [type, JSON.stringify(data), JSON.stringify(options)]);
  return html`<div class="chart"><canvas data-chart=${id} ref=${canvas}></canvas></div>`;
}

/// Every bucket start from `start` to `end` (dates, inclusive), so that quiet buckets show as zero.
function buckets(start, end, bucket) {
  const step = bucket === 'hour' ? 3600000 : 86400000;
  const out = [];
  for (let t = Date.parse(`${start}T00:00:00Z`); t < Date.parse(`${end}T00:00:00Z`) + 86400000; t += step) out.push(t);
  return out;
}

const bucketLabel = (t, bucket) => (bucket === 'hour' ? new Date(t).toISOString().slice(5, 13).replace('T', ' ') + ':00' : new Date(t).toISOString().slice(0, 10));

/// Points of /api/usage/series as datasets of `field`, one per series (the API sends the ten
/// costliest and sums the rest as "other").
function seriesDatasets(points, times, field) {
  const byKey = new Map();
  for (const p of points) {
    const key = p.other ? 'other' : p.name ?? (p.key || '(none)');
    if (!byKey.has(key)) byKey.set(key, new Map());
    const values = byKey.get(key);
    const t = Date.parse(p.at);
    values.set(t, (values.get(t) ?? 0) + p[field]);
  }
  return [...byKey.entries()].map(([label, values], i) => ({
    label,
    data: times.map((t) => values.get(t) ?? 0),
    backgroundColor: label === 'other' ? '#9ca3af' : PALETTE[i % PALETTE.length],
    borderColor: label === 'other' ? '#9ca3af' : PALETTE[i % PALETTE.length],
  }));
}

// ----------------------------------------------------------------- overview --

/// What usage records name as their endpoint: the LLM API's, then the knowledge server's faces.
const ENDPOINTS = ['chat.completions', 'messages', 'responses', 'embeddings', 'messages.count_tokens', 'mcp', 'rest'];

function Overview() {
  const [range, setRange] = useState({ start: daysAgo(6), end: daysAgo(0), bucket: 'day', split: 'model', endpoint: '' });
  const dates = query({ start_date: range.start, end_date: range.end, endpoint: range.endpoint });
  // Hours over more than two weeks are more points than a chart shows: by day then.
  const hoursFit = Date.parse(range.end) - Date.parse(range.start) <= 13 * 86400000;
  const bucket = hoursFit ? range.bucket : 'day';
  const summary = useLoad(() => api(`/api/usage/summary?${dates}`), [dates]);
  const series = useLoad(
    () => api(`/api/usage/series?${dates}&${query({ bucket: bucket, split_by: range.split })}`),
    [dates, bucket, range.split],
  );
  const latency = useLoad(() => api(`/api/usage/latency?${dates}&bucket=${bucket}`), [dates, bucket]);
  const dlp = useLoad(() => api(`/api/usage/dlp?${dates}`), [dates]);
  const breakdown = useLoad(
    () => api(`/api/usage/breakdown?${dates}&group_by=${range.split || 'model'}`),
    [dates, range.split],
  );
  const set = (field) => (e) => setRange({ ...range, [field]: e.target.value });
  const times = buckets(range.start, range.end, bucket);
  const labels = times.map((t) => bucketLabel(t, bucket));
  const totals = summary.data;
  const stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } };
  const dollars = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { callback: usd } } } };

  const requestsByTime = new Map();
  const errorsByTime = new Map();
  for (const p of series.data?.points ?? []) {
    const t = Date.parse(p.at);
    requestsByTime.set(t, (requestsByTime.get(t) ?? 0) + p.requests);
    errorsByTime.set(t, (errorsByTime.get(t) ?? 0) + p.errors);
  }
  const latencyAt = new Map((latency.data?.points ?? []).map((p) => [Date.parse(p.at), p]));
  const percentile = (field, p) => times.map((t) => latencyAt.get(t)?.[field]?.[p] ?? null);
  const dlpTypes = Object.entries(dlp.data?.by_type ?? {});
  const actions = [...new Set(dlpTypes.flatMap(([, a]) => Object.keys(a)))];

  return html`
    <h1>Overview</h1>
    <form class="toolbar" onSubmit=${(e) => e.preventDefault()}>
      <label>From <input type="date" name="start" value=${range.start} max=${range.end} onChange=${set('start')} /></label>
      <label>To <input type="date" name="end" value=${range.end} min=${range.start} onChange=${set('end')} /></label>
      <label>Every <select name="bucket" value=${bucket} onChange=${set('bucket')}>
        <option value="day">day</option><option value="hour" disabled=${!hoursFit}>hour</option></select></label>
      <label>By <select name="split" value=${range.split} onChange=${set('split')}>
        <option value="model">model</option><option value="provider">provider</option>
        <option value="tenant">tenant</option><option value="team">team</option><option value="">—</option></select></label>
      <label>Endpoint <select name="endpoint" value=${range.endpoint} onChange=${set('endpoint')}>
        <option value="">all</option>${ENDPOINTS.map((e) => html`<option value=${e}>${e}</option>`)}</select></label>
    </form>
    <${Failure} error=${summary.error || series.error || latency.error || dlp.error} />
    <div class="cards" data-testid="totals">
      ${[
        ['Spend', 'spend', (t) => usd(t.cost_usd)],
        ['Requests', 'requests', (t) => int(t.requests)],
        ['Errors', 'errors', (t) => int(t.errors)],
        ['Tokens', 'tokens', (t) => int(t.total_tokens)],
        ['Avg latency', 'latency', (t) => (t.avg_latency_ms == null ? '—' : `${Math.round(t.avg_latency_ms)} ms`)],
        ['DLP events', 'dlp', (t) => int(t.dlp_events)],
      ].map(([label, id, show]) => html`<div class="card"><div class="label">${label}</div>
        <div class="value" data-testid=${id}>${totals ? show(totals) : '…'}</div></div>`)}
    </div>
    <div class="grid">
      <section class="panel"><h2>Spend (USD) by ${range.split || 'total'}</h2>
        <${ChartView} id="spend" type="bar" options=${dollars}
          data=${{ labels, datasets: seriesDatasets(series.data?.points ?? [], times, 'cost_usd') }} /></section>
      <section class="panel"><h2>Requests and errors</h2>
        <${ChartView} id="requests" type="line" options=${{ scales: { y: { beginAtZero: true }, rate: { position: 'right', beginAtZero: true, max: 100, title: { display: true, text: 'error %' } } } }}
          data=${{ labels, datasets: [
            { label: 'requests', data: times.map((t) => requestsByTime.get(t) ?? 0), borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
            { label: 'errors', data: times.map((t) => errorsByTime.get(t) ?? 0), borderColor: PALETTE[8], backgroundColor: PALETTE[8] },
            { label: 'error rate %', yAxisID: 'rate', borderDash: [4, 4], borderColor: PALETTE[1], backgroundColor: PALETTE[1],
              data: times.map((t) => (requestsByTime.get(t) ? (100 * (errorsByTime.get(t) ?? 0)) / requestsByTime.get(t) : null)) },
          ] }} /></section>
      <section class="panel"><h2>Latency and time to first token (ms)</h2>
        <${ChartView} id="latency" type="line" options=${{ spanGaps: true, scales: { y: { beginAtZero: true } } }}
          data=${{ labels, datasets: [
            { label: 'latency p50', data: percentile('latency_ms', 'p50'), borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
            { label: 'latency p95', data: percentile('latency_ms', 'p95'), borderColor: PALETTE[4], backgroundColor: PALETTE[4] },
            { label: 'latency p99', data: percentile('latency_ms', 'p99'), borderColor: PALETTE[8], backgroundColor: PALETTE[8] },
            { label: 'TTFT p50', data: percentile('ttft_ms', 'p50'), borderColor: PALETTE[2], backgroundColor: PALETTE[2], borderDash: [4, 4] },
            { label: 'TTFT p95', data: percentile('ttft_ms', 'p95'), borderColor: PALETTE[5], backgroundColor: PALETTE[5], borderDash: [4, 4] },
          ] }} /></section>
      <section class="panel"><h2>DLP detections by type</h2>
        ${dlpTypes.length === 0 ? html`<p class="empty">Nothing detected in this period.</p>` : html`
        <${ChartView} id="dlp" type="bar" options=${{ indexAxis: 'y', ...stacked }}
          data=${{ labels: dlpTypes.map(([kind]) => kind), datasets: actions.map((action, i) => ({
            label: action, data: dlpTypes.map(([, a]) => a[action] ?? 0), backgroundColor: PALETTE[i % PALETTE.length] })) }} />`}</section>
    </div>
    <section class="panel" style="margin-top:16px"><h2>By ${range.split || 'model'}</h2>
      <table data-testid="breakdown"><thead><tr><th>${range.split || 'model'}</th><th class="num">requests</th><th class="num">errors</th>
        <th class="num">tokens</th><th class="num">avg latency</th><th class="num">cost</th></tr></thead>
      <tbody>${(breakdown.data?.groups ?? []).map((g) => html`<tr>
        <td>${g.name ?? (g.key || '(none)')}</td><td class="num">${int(g.requests)}</td><td class="num">${int(g.errors)}</td>
        <td class="num">${int(g.total_tokens)}</td><td class="num">${g.avg_latency_ms == null ? '—' : `${Math.round(g.avg_latency_ms)} ms`}</td>
        <td class="num">${usd(g.cost_usd)}</td></tr>`)}</tbody></table></section>`;
}

// ------------------------------------------------------------------ tenants --

function Tenants({ user }) {
  const teams = useLoad(() => api('/api/teams'), []);
  const tenants = useLoad(() => api('/api/tenants?limit=1000'), []);
  const teamSpend = useLoad(() => api('/api/usage/breakdown?group_by=team'), []);
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const member = can(user, 'member');
  const teamList = teams.data ?? [];
  const teamName = (id) => teamList.find((t) => t.id === id)?.name ?? '—';
  const spentByTeam = new Map((teamSpend.data?.groups ?? []).map((g) => [g.key, g.cost_usd]));

  const act = async (fn) => {
    setError(null);
    try {
      await fn();
      tenants.reload();
      teams.reload();
    } catch (e) {
      setError(e);
    }
  };
  const number = (v) => (v === '' ? undefined : Number(v));
  const createTenant = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    act(async () => {
      const made = await api('/api/tenants', { method: 'POST', body: {
        name: f.get('name'), team_id: number(f.get('team_id')),
        daily_budget: number(f.get('daily_budget')), monthly_budget: number(f.get('monthly_budget')) } });
      setCreated({ name: made.name, api_key: made.api_key });
      e.target.reset();
    });
  };
  const createTeam = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    act(async () => {
      await api('/api/teams', { method: 'POST', body: { name: f.get('name'), monthly_budget: number(f.get('monthly_budget')) } });
      e.target.reset();
    });
  };
  const rotate = (t) => act(async () => {
    const made = await api(`/api/tenants/${t.id}/rotate-key`, { method: 'POST' });
    setCreated({ name: t.name, api_key: made.api_key });
  });

  return html`
    <h1>Tenants and teams</h1>
    <${Failure} error=${error || tenants.error || teams.error} />
    ${created && html`<div class="notice" data-testid="new-key">The key of <b>${created.name}</b>, shown this once:
      <code>${created.api_key}</code> <button class="secondary" onClick=${() => setCreated(null)}>Done</button></div>`}
    <section class="panel"><h2>Tenants</h2>
      ${member && html`<form class="inline" data-testid="new-tenant" onSubmit=${createTenant}>
        <label>Name <input name="name" required /></label>
        <label>Team <select name="team_id"><option value="">—</option>${teamList.map((t) => html`<option value=${t.id}>${t.name}</option>`)}</select></label>
        <label>Daily budget <input name="daily_budget" type="number" min="0" step="0.01" /></label>
        <label>Monthly budget <input name="monthly_budget" type="number" min="0" step="0.01" /></label>
        <button type="submit">Create tenant</button></form>`}
      <table data-testid="tenants"><thead><tr><th>Name</th><th>Team</th><th>Status</th><th>Key</th>
        <th>Today</th><th>This month</th><th></th></tr></thead>
      <tbody>${(tenants.data?.data ?? []).map((t) => html`<tr data-tenant=${t.name}>
        <td>${t.name}</td><td>${teamName(t.team_id)}</td><td><${Badge} value=${t.status} /></td><td><code>${t.key_prefix}…</code></td>
        <td><${Gauge} spent=${t.usage.cost_today_usd} budget=${t.daily_budget} label="daily" /></td>
        <td><${Gauge} spent=${t.usage.cost_this_month_usd} budget=${t.monthly_budget} label="monthly" /></td>
        <td>${member && html`
          ${t.status === 'active'
            ? html`<button class="danger" onClick=${() => act(() => api(`/api/tenants/${t.id}/suspend`, { method: 'POST' }))}>Suspend</button>`
            : html`<button class="secondary" onClick=${() => act(() => api(`/api/tenants/${t.id}/activate`, { method: 'POST' }))}>Activate</button>`}
          ${' '}<button class="secondary" onClick=${() => rotate(t)}>Rotate key</button>`}</td></tr>`)}</tbody></table>
      ${tenants.data && tenants.data.data.length === 0 && html`<p class="empty">No tenants yet.</p>`}</section>
    <section class="panel"><h2>Teams</h2>
      ${member && html`<form class="inline" onSubmit=${createTeam}>
        <label>Name <input name="name" required /></label>
        <label>Monthly budget <input name="monthly_budget" type="number" min="0" step="0.01" /></label>
        <button type="submit">Create team</button></form>`}
      <table><thead><tr><th>Name</th><th class="num">Tenants</th><th>This month</th></tr></thead>
      <tbody>${teamList.map((t) => html`<tr><td>${t.name}</td><td class="num">${t.tenants}</td>
        <td><${Gauge} spent=${spentByTeam.get(String(t.id)) ?? 0} budget=${t.monthly_budget} label="monthly" /></td></tr>`)}</tbody></table></section>`;
}

// ---------------------------------------------------------------- providers --

function Providers({ user }) {
  const providers = useLoad(() => api('/api/providers'), []);
  const [tests, setTests] = useState({});
  const test = async (p) => {
    setTests((t) => ({ ...t, [p.id]: { running: true } }));
    let result;
    try {
      result = await api(`/api/providers/${p.id}/test`, { method: 'POST' });
    } catch (e) {
      result = { ok: false, error: e.message };
    }
    setTests((t) => ({ ...t, [p.id]: result }));
    providers.reload();
  };
  const list = providers.data ?? [];
  return html`
    <h1>Providers</h1>
    <${Failure} error=${providers.error} />
    <section class="panel"><table data-testid="providers"><thead><tr><th>Name</th><th>Kind</th><th>Base URL</th><th class="num">Priority</th>
      <th>Circuit</th><th class="num">In flight</th><th class="num">Keys</th><th>Models</th><th></th></tr></thead>
    <tbody>${list.map((p) => {
      const t = tests[p.id];
      return html`<tr data-provider=${p.name}><td>${p.name}${p.enabled ? '' : html` <${Badge} value="disabled" kind="warn" />`}</td><td>${p.kind}</td>
        <td><code>${p.base_url}</code></td><td class="num">${p.priority}</td><td><${Badge} value=${p.circuit} /></td>
        <td class="num">${p.in_flight}</td><td class="num">${p.keys}</td><td>${p.models ? p.models.join(', ') : 'any'}</td>
        <td>${can(user, 'member') && html`<button class="secondary" disabled=${t?.running} onClick=${() => test(p)}>Test</button>`}
          ${t && !t.running && html` <span data-testid="test-result">${t.ok
            ? html`<${Badge} value="ok" /> ${t.latency_ms} ms, ${t.models ?? 0} models`
            : html`<${Badge} value="failed" /> ${t.error}`}</span>`}</td></tr>`;
    })}</tbody></table></section>`;
}

// -------------------------------------------------------------------- users --

function Users() {
  const users = useLoad(() => api('/api/users'), []);
  const [error, setError] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setError(null);
    try {
      await api('/api/users', { method: 'POST', body: { email: f.get('email'), password: f.get('password'), role: f.get('role') } });
      e.target.reset();
      users.reload();
    } catch (err) {
      setError(err);
    }
  };
  const list = users.data ?? [];
  return html`
    <h1>Users</h1>
    <${Failure} error=${error || users.error} />
    <section class="panel">
      <form class="inline" onSubmit=${create}>
        <label>Email <input name="email" type="email" required /></label>
        <label>Password <input name="password" type="password" minlength="12" required /></label>
        <label>Role <select name="role">${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
        <button type="submit">Add user</button></form>
      <table><thead><tr><th>Email</th><th>Role</th><th>State</th><th>Last login</th><th>Created</th></tr></thead>
      <tbody>${list.map((u) => html`<tr><td>${u.email}</td><td>${u.role}</td>
        <td>${u.disabled ? html`<${Badge} value="disabled" kind="bad" />` : u.locked_until ? html`<${Badge} value="locked" kind="warn" />` : html`<${Badge} value="active" />`}</td>
        <td>${when(u.last_login_at)}</td><td>${when(u.created_at)}</td></tr>`)}</tbody></table></section>`;
}

// -------------------------------------------------------------------- audit --

function Audit() {
  const [page, setPage] = useState(1);
  const audit = useLoad(() => api(`/api/audit?page=${page}&limit=50`), [page]);
  return html`
    <h1>Audit log</h1>
    <${Failure} error=${audit.error} />
    <section class="panel"><table data-testid="audit"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Detail</th><th>From</th></tr></thead>
      <tbody>${(audit.data?.data ?? []).map((a) => html`<tr><td>${when(a.created_at)}</td><td>${a.user_email ?? '—'}</td>
        <td><code>${a.action}</code></td><td>${a.target_type ? `${a.target_type} ${a.target_id ?? ''}` : '—'}</td>
        <td><code>${JSON.stringify(a.detail)}</code></td><td>${a.ip ?? '—'}</td></tr>`)}</tbody></table>
      <div class="toolbar" style="margin-top:12px">
        <button class="secondary" disabled=${page === 1} onClick=${() => setPage(page - 1)}>Newer</button>
        <button class="secondary" disabled=${!audit.data?.has_more} onClick=${() => setPage(page + 1)}>Older</button>
        <span class="muted">${audit.data ? `${int(audit.data.total)} entries` : ''}</span></div></section>`;
}

// ------------------------------------------------------------------- alerts --

function Alerts() {
  const [open, setOpen] = useState(false);
  const alerts = useLoad(() => api(`/api/alerts?limit=200${open ? '&open=true' : ''}`), [open]);
  return html`
    <h1>Alerts</h1>
    <${Failure} error=${alerts.error} />
    <section class="panel">
      <div class="toolbar"><label class="check"><input type="checkbox" checked=${open} onChange=${(e) => setOpen(e.target.checked)} /> Open only</label></div>
      <table data-testid="alerts"><thead><tr><th>Raised</th><th>Kind</th><th>Severity</th><th>Alert</th><th>Resolved</th></tr></thead>
      <tbody>${(alerts.data?.data ?? []).map((a) => html`<tr><td>${when(a.created_at)}</td><td>${a.kind}</td>
        <td><${Badge} value=${a.severity} /></td><td>${a.title}</td><td>${a.resolved_at ? when(a.resolved_at) : html`<${Badge} value="open" />`}</td></tr>`)}</tbody></table>
      ${alerts.data && alerts.data.data.length === 0 && html`<p class="empty">No alerts.</p>`}</section>`;
}

// ------------------------------------------------------------- repositories --

const RUNNING = ['queued', 'cloning', 'parsing', 'embedding'];
const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];

function Repositories({ user }) {
  const repos = useLoad(() => api('/api/knowledge/repositories?limit=1000'), []);
  const [error, setError] = useState(null);
  const list = repos.data?.repositories ?? [];
  useEvery(2000, list.some((r) => RUNNING.includes(r.status)), repos.reload);
  const add = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setError(null);
    try {
      await api('/api/knowledge/repositories', { method: 'POST', body: { url: f.get('url'), run_security_scan: f.get('scan') === 'on' } });
      e.target.reset();
      repos.reload();
    } catch (err) {
      setError(err);
    }
  };
  return html`
    <h1>Repositories</h1>
    <${Failure} error=${error || repos.error} />
    <section class="panel">
      ${can(user, 'member') && html`<form class="inline" onSubmit=${add}>
        <label>Git URL <input name="url" size="48" placeholder="https://github.com/org/repo" required /></label>
        <label class="check"><input type="checkbox" name="scan" /> Scan for security issues</label>
        <button type="submit">Index</button></form>`}
      <table data-testid="repositories"><thead><tr><th>Name</th><th>Status</th><th class="num">Files</th><th class="num">Symbols</th>
        <th class="num">Edges</th><th>Indexed</th><th>Source</th></tr></thead>
      <tbody>${list.map((r) => html`<tr class="clickable" data-repo=${r.name} onClick=${() => (location.hash = `#/repositories/${encodeURIComponent(r.repo_id)}`)}>
        <td><a href=${`#/repositories/${encodeURIComponent(r.repo_id)}`}>${r.name}</a></td><td><${Badge} value=${r.status} /></td>
        <td class="num">${int(r.files)}</td><td class="num">${int(r.symbols)}</td><td class="num">${int(r.edges)}</td>
        <td>${ago(r.indexed_at)}</td><td><code>${r.source}</code></td></tr>`)}</tbody></table>
      ${repos.data && list.length === 0 && html`<p class="empty">No repositories indexed yet.</p>`}</section>`;
}

function Repository({ id, user }) {
  const base = `/api/knowledge/repositories/${encodeURIComponent(id)}`;
  const repo = useLoad(() => api(base), [id]);
  const [job, setJob] = useState(null);
  const [tab, setTab] = useState('findings');
  const [error, setError] = useState(null);
  const r = repo.data;
  const running = r && RUNNING.includes(job?.status ?? r.status);
  useEvery(1000, running, async () => {
    try {
      const status = await api(`${base}/status`);
      setJob(status);
      if (!RUNNING.includes(status.status)) repo.reload();
    } catch (e) {
      setError(e);
    }
  });
  const post = async (path, body) => {
    setError(null);
    try {
      await api(path, { method: 'POST', body });
      repo.reload();
      setJob({ status: 'queued', progress: 0 });
    } catch (e) {
      setError(e);
    }
  };
  if (repo.error) return html`<${Failure} error=${repo.error} />`;
  if (!r) return html`<p class="loading">Loading…</p>`;
  const member = can(user, 'member');
  return html`
    <h1><a href="#/repositories">Repositories</a> / ${r.name}</h1>
    <${Failure} error=${error} />
    <div class="cards">
      <div class="card"><div class="label">Status</div><div class="value"><${Badge} value=${job?.status ?? r.status} /></div></div>
      <div class="card"><div class="label">Files</div><div class="value">${int(r.files)}</div></div>
      <div class="card"><div class="label">Lines</div><div class="value">${int(r.lines)}</div></div>
      <div class="card"><div class="label">Symbols</div><div class="value">${int(r.symbols)}</div></div>
      <div class="card"><div class="label">Nodes / edges</div><div class="value">${int(r.nodes)} / ${int(r.edges)}</div></div>
      <div class="card"><div class="label">Embedded</div><div class="value">${int(r.embedded)} / ${int(r.chunks)}</div></div>
      <div class="card"><div class="label">Indexed</div><div class="value" title=${r.commit ?? ''}>${ago(r.indexed_at)}</div></div>
    </div>
    ${running && job && html`<section class="panel" data-testid="job"><h2>Indexing</h2>
      <progress max="100" value=${job.progress ?? 0}></progress> ${job.progress ?? 0}%
      ${job.stage && html` · ${job.stage.name}: ${int(job.stage.done)}${job.stage.total ? ` of ${int(job.stage.total)}` : ''} ${job.stage.unit}
        ${job.stage.eta_secs != null ? ` · about ${job.stage.eta_secs} s left` : ''}`}</section>`}
    <section class="panel">
      <div class="toolbar">
        <span class="chips">${Object.entries(r.languages ?? {}).map(([l, n]) => html`<span class="badge">${l} · ${n} files</span>`)}</span>
        <span class="muted">${r.source}${r.branch ? ` @ ${r.branch}` : ''}${r.commit ? ` · ${r.commit.slice(0, 12)}` : ''}</span>
        ${member && html`<button class="secondary" onClick=${() => post('/api/knowledge/repositories', { url: r.source, branch: r.branch ?? undefined })}>Re-index</button>
          <button class="secondary" onClick=${() => post(`${base}/scan`).then(() => setTab('findings'))}>Scan now</button>`}
      </div>
      ${r.error && html`<div class="error">The last job failed: ${r.error}</div>`}
      <div class="toolbar">
        <button class=${tab === 'findings' ? '' : 'secondary'} onClick=${() => setTab('findings')}>Findings</button>
        <button class=${tab === 'symbols' ? '' : 'secondary'} onClick=${() => setTab('symbols')}>Symbols</button>
      </div>
      ${tab === 'findings' ? html`<${Findings} base=${base} />` : html`<${Symbols} base=${base} />`}
    </section>`;
}

function Findings({ base }) {
  const [filter, setFilter] = useState({ severity: '', tool: '' });
  const [open, setOpen] = useState(null);
  const scan = useLoad(() => api(`${base}/findings?${query({ ...filter, limit: 500 })}`), [base, filter.severity, filter.tool]);
  const set = (field) => (e) => setFilter({ ...filter, [field]: e.target.value });
  const s = scan.data;
  const running = s && (s.status === 'queued' || s.status === 'running');
  useEvery(2000, running, scan.reload);
  return html`
    <div class="toolbar" data-testid="finding-filters">
      <label>At least <select name="severity" value=${filter.severity} onChange=${set('severity')}>
        <option value="">any severity</option>${SEVERITIES.map((v) => html`<option value=${v}>${v}</option>`)}</select></label>
      <label>Tool <select name="tool" value=${filter.tool} onChange=${set('tool')}>
        <option value="">any tool</option>${['semgrep', 'trivy', 'checkov'].map((v) => html`<option value=${v}>${v}</option>`)}</select></label>
      ${s && html`<span class="chips">${SEVERITIES.filter((v) => s.counts[v]).map((v) => html`<${Badge} value=${`${s.counts[v]} ${v}`} kind=${v} />`)}</span>
        <span class="muted">scan of ${s.finished_at ? new Date(s.finished_at).toLocaleString() : '…'} · ${int(s.total_findings)} findings, ${int(s.new_findings)} new, ${s.fixed.length} fixed
          · ${s.tools.map((t) => `${t.tool}: ${t.status}`).join(', ')}</span>`}
    </div>
    ${scan.error ? html`<p class="empty">${scan.error.status === 404 ? 'No finished scan yet: scan the repository to see its findings.' : scan.error.message}</p>` : null}
    ${running && html`<p class="muted">The scan is ${s.status}…</p>`}
    ${s && html`<table data-testid="findings"><thead><tr><th>Severity</th><th>Tool</th><th>Finding</th><th>Where</th><th>Symbol</th></tr></thead>
      <tbody>${s.findings.map((f) => html`
        <tr class="clickable" data-fingerprint=${f.fingerprint} onClick=${() => setOpen(open === f.fingerprint ? null : f.fingerprint)}>
          <td><${Badge} value=${f.severity} /> ${f.new ? html`<${Badge} value="new" />` : null}</td><td>${f.tool}</td>
          <td><b>${f.title}</b><div class="muted">${f.rule_id}${f.cve.length ? ` · ${f.cve.join(', ')}` : ''}${f.cwe.length ? ` · ${f.cwe.join(', ')}` : ''}</div></td>
          <td><code>${f.path}${f.start_line ? `:${f.start_line}` : ''}</code></td><td>${f.symbol ? html`<code>${f.symbol.qualified ?? f.symbol.name}</code>` : '—'}</td></tr>
        ${open === f.fingerprint && html`<tr><td colspan="5"><p>${f.message}</p>
          ${f.package && html`<p class="muted">${f.package.name} ${f.package.installed_version ?? ''}${f.package.fixed_version ? ` → fixed in ${f.package.fixed_version}` : ''}</p>`}
          ${f.start_line ? html`<${CodeAround} base=${base} finding=${f} />` : null}</td></tr>`}`)}</tbody></table>
      ${s.findings.length === 0 && html`<p class="empty">No findings match.</p>`}
      ${s.fixed.length > 0 && html`<h2 style="margin-top:16px">Fixed since the previous scan</h2>
        <table data-testid="fixed"><tbody>${s.fixed.map((f) => html`<tr><td><${Badge} value=${f.severity} /></td><td>${f.tool}</td><td>${f.title}</td>
          <td><code>${f.path}${f.start_line ? `:${f.start_line}` : ''}</code></td></tr>`)}</tbody></table>`}`}`;
}

/// The lines of a finding and five on either side, as the file is on disk now.
function CodeAround({ base, finding }) {
  const first = Math.max(1, finding.start_line - 5);
  const last = (finding.end_line ?? finding.start_line) + 5;
  const file = useLoad(() => api(`${base}/file?${query({ path: finding.path, start_line: first, end_line: last })}`), [finding.fingerprint]);
  if (file.error) return html`<p class="muted">${file.error.message}</p>`;
  if (!file.data) return html`<p class="muted">Loading the code…</p>`;
  const hit = (n) => n >= finding.start_line && n <= (finding.end_line ?? finding.start_line);
  return html`<pre class="code" data-testid="code">${file.data.lines.map((line, i) => {
    const n = file.data.start_line + i;
    return html`<span class=${hit(n) ? 'hit' : ''}><i>${n}</i>${line}</span>`;
  })}</pre>`;
}

function Symbols({ base }) {
  const [q, setQ] = useState('');
  const [picked, setPicked] = useState(null);
  const symbols = useLoad(() => api(`${base}/symbols?${query({ q, limit: 100 })}`), [base, q]);
  return html`
    <div class="toolbar"><label>Find a symbol <input name="q" value=${q} placeholder="name or part of one" onInput=${(e) => setQ(e.target.value)} /></label>
      <span class="muted">${symbols.data ? `${int(symbols.data.total)} symbols` : ''}</span></div>
    <div class="split">
      <table data-testid="symbols"><tbody>${(symbols.data?.symbols ?? []).map((s) => html`
        <tr class="clickable" onClick=${() => setPicked(s)}><td><span class="badge">${s.kind}</span></td>
          <td><code>${s.qualified}</code><div class="muted">${s.path}:${s.start_line}</div></td></tr>`)}</tbody></table>
      <div>${picked ? html`<${Calls} base=${base} symbol=${picked} pick=${setPicked} />` : html`<p class="empty">Pick a symbol to see its callers and callees.</p>`}</div>
    </div>`;
}

function Calls({ base, symbol, pick }) {
  const params = query({ symbol: symbol.qualified, path: symbol.path, depth: 1, limit: 100 });
  const callers = useLoad(() => api(`${base}/callers?${params}`), [params]);
  const callees = useLoad(() => api(`${base}/callees?${params}`), [params]);
  const list = (load, label) => html`<h2>${label}</h2>${load.error ? html`<p class="muted">${load.error.message}</p>` : null}
    <table data-testid=${label}><tbody>${(load.data?.results ?? []).map((c) => html`<tr class="clickable" onClick=${() => pick(c.symbol)}>
      <td><code>${c.symbol.qualified}</code><div class="muted">${c.symbol.path}, line ${c.line}</div></td></tr>`)}</tbody></table>
    ${load.data && load.data.results.length === 0 ? html`<p class="empty">None.</p>` : null}`;
  return html`<h2><code>${symbol.qualified}</code></h2><p class="muted"><code>${symbol.signature}</code></p>
    ${list(callers, 'callers')}${list(callees, 'callees')}`;
}

// ---------------------------------------------------------------- the shell --

function Login({ onLogin, notice }) {
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setError(null);
    try {
      const session = await api('/api/auth/login', { method: 'POST', body: { email: f.get('email'), password: f.get('password') } });
      sessionStorage.setItem(TOKEN, session.token);
      onLogin(session.user);
    } catch (err) {
      setError(err);
    }
  };
  return html`<div class="login"><h1>AgentWatch</h1><p class="muted">Log in with your admin account.</p>
    ${notice && html`<div class="notice">${notice}</div>`}<${Failure} error=${error} />
    <form onSubmit=${submit}><label>Email <input name="email" type="email" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit">Log in</button></form></div>`;
}

const PAGES = [
  ['overview', 'Overview', 'viewer'],
  ['tenants', 'Tenants', 'viewer'],
  ['providers', 'Providers', 'viewer'],
  ['repositories', 'Repositories', 'viewer'],
  ['alerts', 'Alerts', 'viewer'],
  ['users', 'Users', 'admin'],
  ['audit', 'Audit', 'admin'],
];

function useRoute() {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function App() {
  const [user, setUser] = useState(null);
  const [checked, setChecked] = useState(false);
  const [notice, setNotice] = useState(null);
  const [page = 'overview', id] = useRoute();
  onSignedOut = (message) => {
    setUser(null);
    setNotice(message);
  };
  useEffect(() => {
    if (!sessionStorage.getItem(TOKEN)) return setChecked(true);
    api('/api/auth/me').then(setUser, () => {}).finally(() => setChecked(true));
  }, []);
  if (!checked) return html`<p class="loading">Loading…</p>`;
  if (!user) return html`<${Login} notice=${notice} onLogin=${(u) => { setNotice(null); setUser(u); }} />`;
  const logout = async () => {
    await api('/api/auth/logout', { method: 'POST' }).catch(() => {});
    sessionStorage.removeItem(TOKEN);
    setUser(null);
  };
  const allowed = PAGES.filter(([, , role]) => can(user, role));
  const current = allowed.some(([p]) => p === page) ? page : 'overview';
  const body = {
    overview: () => html`<${Overview} />`,
    tenants: () => html`<${Tenants} user=${user} />`,
    providers: () => html`<${Providers} user=${user} />`,
    repositories: () => (id ? html`<${Repository} id=${id} user=${user} />` : html`<${Repositories} user=${user} />`),
    alerts: () => html`<${Alerts} />`,
    users: () => html`<${Users} />`,
    audit: () => html`<${Audit} />`,
  }[current];
  return html`
    <header><span class="brand">AgentWatch</span>
      <nav>${allowed.map(([p, label]) => html`<a href=${`#/${p}`} class=${p === current ? 'active' : ''}>${label}</a>`)}</nav>
      <span class="who">${user.email} · ${user.role} · ${user.org.name}</span>
      <button class="secondary" onClick=${logout}>Log out</button></header>
    <main>${body()}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));
