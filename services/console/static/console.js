// Operator console: plain JavaScript, no build step, no CDN. Reads /console/api/* with the operator key.
"use strict";

const I18N = {
  zh: {
    title: "网格服务值班台", board: "队列", rates: "三率", health: "系统", logout: "退出", key: "操作员密钥",
    login: "登录", queue: "待办请求", request: "请求", item: "事项", grid: "网格", status: "状态", level: "层级",
    volunteer: "志愿者", sla: "时限", detail: "请求详情", actions: "操作", reassign: "改派", escalate: "上报",
    close: "办结", cancel: "取消", reason: "原因（必填）", submit: "提交", timeline: "时间线", decisions: "匹配决定",
    gridLoad: "网格负载", volunteerLoad: "志愿者负载", groupBy: "分组", community: "社区", district: "全区",
    from: "从", to: "到", show: "查看", csv: "导出 CSV", services: "服务", lag: "消费延迟", deadLetters: "死信",
    parked: "搁置的 Webhook", overdue: "已超时", none: "无", accepted: "已提交", badKey: "密钥无效或无权限",
    received: "受理", responseRate: "响应率", resolutionRate: "解决率", satisfactionRate: "满意率",
    onTimeRate: "按时办结率", redoRate: "重办率", medianAssign: "派单中位(分)", medianResolve: "办结中位(分)",
    chosen: "选中", open: "在办", capacity: "上限", newRequest: "代居民登记", phone: "电话", name: "姓名",
    words: "居民原话", priority: "改优先级", filed: "已登记", levelLabel: "层级",
    statuses: { submitted: "已提交", matching: "匹配中", offered: "已派单", assigned: "已接单", in_progress: "办理中",
      resolved: "已办结", rated: "已评价", escalated: "已上报", cancelled: "已取消", rejected: "已拒绝",
      expired: "已过期", unassigned: "无人可派" },
    levels: { grid: "网格", community: "社区", street: "街道", district: "区" },
  },
  en: {
    title: "Grid service console", board: "Queue", rates: "Rates", health: "System", logout: "Log out",
    key: "Operator key", login: "Log in", queue: "Open requests", request: "Request", item: "Item", grid: "Grid",
    status: "Status", level: "Level", volunteer: "Volunteer", sla: "Deadline", detail: "Request", actions: "Actions",
    reassign: "Reassign", escalate: "Escalate", close: "Close", cancel: "Cancel", reason: "Reason (required)",
    submit: "Submit", timeline: "Timeline", decisions: "Matching decisions", gridLoad: "Load per grid",
    volunteerLoad: "Load per volunteer", groupBy: "Group by", community: "Community", district: "District",
    from: "From", to: "To", show: "Show", csv: "Export CSV", services: "Services", lag: "Consumer lag",
    deadLetters: "Dead letters", parked: "Parked webhooks", overdue: "overdue", none: "none", accepted: "Accepted",
    badKey: "Unknown key or not allowed", received: "Received", responseRate: "Response rate",
    resolutionRate: "Resolution rate", satisfactionRate: "Satisfaction rate", onTimeRate: "On-time closure",
    redoRate: "Redo rate", medianAssign: "Median to assign (min)", medianResolve: "Median to resolve (min)",
    chosen: "chosen", open: "open", capacity: "capacity", newRequest: "File a request for a resident",
    phone: "Phone", name: "Name", words: "In the resident's words", priority: "Change priority", filed: "Filed",
    levelLabel: "Level",
    statuses: {}, levels: {},
  },
};

const state = { lang: localStorage.getItem("console.lang") || "zh", key: sessionStorage.getItem("console.key"),
  board: null, selected: null, tab: "board", boardSignature: "", district: null, live: false, stream: null,
  refreshTimer: null };
// The board is reloaded when notify's operator stream says something changed; polled only while it is down.
const REFRESH_DEBOUNCE_MS = 300;
const POLL_WHILE_DOWN_MS = 5000;
const SAFETY_REFRESH_MS = 60000;
const $ = (selector) => document.querySelector(selector);
const t = (name) => I18N[state.lang][name] ?? I18N.zh[name] ?? name;
const statusName = (s) => (state.lang === "zh" ? I18N.zh.statuses[s] : null) || s || "";
const levelName = (l) => (state.lang === "zh" ? I18N.zh.levels[l] : null) || l || "";

function text(tag, content, attrs = {}) {
  const node = document.createElement(tag);
  node.textContent = content ?? "";
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options,
    headers: { "X-API-Key": state.key, "Content-Type": "application/json", ...(options.headers || {}) } });
  if (response.status === 401) { logout(t("badKey")); throw new Error(t("badKey")); }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = Array.isArray(body.errors) ? body.errors.map((e) => `${e.field}: ${e.message}`).join("; ") : body.detail;
    throw new Error(detail || body.title || response.statusText);
  }
  return body;
}

function renderDistrict() {
  const d = state.district;
  if (d) $("#district").textContent = state.lang === "zh" ? d.name_zh || d.district_id : d.name_en || d.district_id;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("#lang").textContent = state.lang === "zh" ? "English" : "中文";
  renderDistrict();
  if (state.board) renderBoard(state.board);
  if (state.selected) showDetail(state.selected, false).catch(() => {});
}

function countdown(due, now) {
  if (!due) return "";
  const seconds = Math.round((new Date(due) - now) / 1000);
  const sign = seconds < 0 ? "-" : "";
  const abs = Math.abs(seconds);
  const h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = abs % 60;
  return `${sign}${h ? h + ":" : ""}${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

function renderBoard(board) {
  const counts = $("#counts");
  counts.replaceChildren();
  const byStatus = {};
  for (const row of board.counts) byStatus[row.status] = (byStatus[row.status] || 0) + row.count;
  for (const [status, count] of Object.entries(byStatus)) {
    const chip = text("span", statusName(status), { class: "chip", "data-status": status });
    chip.append(text("b", String(count)));
    counts.append(chip);
  }
  const byLevel = {};
  for (const row of board.counts) if (row.level) byLevel[row.level] = (byLevel[row.level] || 0) + row.count;
  $("#levels").replaceChildren(...["grid", "community", "street", "district"].filter((l) => byLevel[l]).map((level) => {
    const chip = text("span", `${t("levelLabel")}: ${levelName(level)}`, { class: "chip level", "data-level": level });
    chip.append(text("b", String(byLevel[level])));
    return chip;
  }));
  const overdue = (board.overdue || board.requests.filter((r) => r.overdue)).length;
  const chip = text("span", t("overdue"), { class: overdue ? "chip bad" : "chip good", "data-testid": "overdue-count" });
  chip.append(text("b", String(overdue)));
  counts.append(chip);

  const now = new Date();
  const rows = board.requests.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.requestId = r.request_id;
    if (r.overdue) tr.classList.add("overdue");
    if (r.request_id === state.selected) tr.classList.add("selected");
    const volunteer = r.assigned_volunteer_id || (r.offered_volunteer_ids || []).join(", ");
    tr.append(text("td", r.request_id.slice(0, 8)), text("td", r.menu_item_code), text("td", r.grid_id),
      text("td", statusName(r.status)), text("td", levelName(r.level)), text("td", volunteer),
      text("td", countdown(r.sla_due_at, now), { class: "sla", "data-due": r.sla_due_at || "" }));
    tr.addEventListener("click", () => showDetail(r.request_id));
    return tr;
  });
  $("#queue tbody").replaceChildren(...rows);
  $("#grid-load tbody").replaceChildren(...board.load_per_grid.map((g) => {
    const tr = document.createElement("tr");
    tr.append(text("td", g.grid_id), text("td", `${g.open} ${t("open")}`));
    return tr;
  }));
  $("#volunteer-load tbody").replaceChildren(...board.volunteers.map((v) => {
    const tr = document.createElement("tr");
    tr.append(text("td", v.name || v.volunteer_id), text("td", v.grid_id),
      text("td", `${v.open_assignments ?? 0} / ${v.capacity ?? "?"}`));
    return tr;
  }));
  $("#volunteer-list").replaceChildren(...board.volunteers.map((v) => text("option", v.name, { value: v.volunteer_id })));
}

function tickCountdowns() {
  const now = new Date();
  document.querySelectorAll("td.sla[data-due]").forEach((cell) => {
    if (!cell.dataset.due) return;
    cell.textContent = countdown(cell.dataset.due, now);
    cell.parentElement.classList.toggle("overdue", new Date(cell.dataset.due) < now);
  });
}

async function refreshBoard() {
  const board = await api("/console/api/board");
  const signature = JSON.stringify([board.counts, board.requests.map((r) => [r.request_id, r.status, r.level, r.sla_due_at])]);
  state.board = board;
  if (signature !== state.boardSignature) {
    state.boardSignature = signature;
    renderBoard(board);
  }
  if (state.selected) await showDetail(state.selected, false);
}

function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    if (state.tab === "board") refreshBoard().catch(() => {});
  }, REFRESH_DEBOUNCE_MS);
}

// Reads /console/api/events (notify's operator stream, relayed under this origin) with the key in a header:
// EventSource cannot send one. Any event (a change, or `reset` on connecting) reloads the board.
async function followChanges() {
  let backoff = 1000;
  while (state.key) {
    const controller = new AbortController();
    state.stream = controller;
    try {
      const response = await fetch("/console/api/events", { headers: { "X-API-Key": state.key }, signal: controller.signal });
      if (!response.ok || !response.body) throw new Error(response.statusText);
      state.live = true;
      backoff = 1000;
      scheduleRefresh();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (frame.split("\n").some((line) => line.startsWith("data:"))) scheduleRefresh();
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    state.live = false;
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 30000);
  }
}

async function showDetail(requestId, scroll = true) {
  state.selected = requestId;
  const r = await api(`/console/api/requests/${encodeURIComponent(requestId)}`);
  $("#detail").hidden = false;
  $("#detail-id").textContent = r.request_id;
  const facts = [[t("status"), statusName(r.status)], [t("level"), levelName(r.level)], [t("item"), r.menu_item_code],
    [t("grid"), r.grid_id], [t("volunteer"), r.assigned_volunteer_id || t("none")], [t("sla"), r.sla_due_at || ""]];
  $("#detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [text("dt", k), text("dd", v)]));
  $("#timeline").replaceChildren(...(r.timeline || []).map((e) => {
    const li = text("li", "", { "data-type": e.type });
    li.append(text("time", new Date(e.time).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB")));
    const d = e.data || {};
    li.append(document.createTextNode(`${e.type} ${d.message || ""} ${d.reason ? "(" + d.reason + ")" : ""}`));
    return li;
  }));
  $("#decisions").replaceChildren(...(r.decisions || []).map((decision) => {
    const block = text("details", "");
    const chosen = decision.chosen_volunteer_id || (decision.offered || []).join(", ") || t("none");
    block.append(text("summary", `${decision.kind || "match"} · ${levelName(decision.level)} · ${t("chosen")}: ${
      chosen} — ${decision.reason || ""} ${decision.actor ? "(" + decision.actor + ")" : ""}`));
    const list = text("ol", "");
    for (const c of decision.candidates || []) list.append(text("li", `${c.volunteer_id}: ${c.explanation || ""}`));
    for (const e of decision.excluded || []) {
      list.append(text("li", `✗ ${e.volunteer_id}: ${e.explanation || (e.codes || []).join(", ")}`, { class: "excluded" }));
    }
    block.append(list);
    return block;
  }));
  document.querySelectorAll("#queue tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.requestId === requestId));
  if (scroll) $("#detail").scrollIntoView({ block: "nearest" });
}

function showActionFields() {
  const action = $("#action").value;
  $("#action-volunteer").hidden = action !== "reassign";
  $("#action-priority").hidden = action !== "priority";
}

async function loadNewRequestForm() {
  const directory = await api("/console/api/directory");
  $("#new-grid").replaceChildren(...directory.grids.map((g) =>
    text("option", `${state.lang === "zh" ? g.name_zh || g.id : g.name_en || g.id} (${g.id})`, { value: g.id })));
  await loadMenu();
}

async function loadMenu() {
  const grid = $("#new-grid").value;
  if (!grid) return;
  const menu = await api(`/console/api/grids/${encodeURIComponent(grid)}/menu`);
  $("#new-item").replaceChildren(...menu.map((item) =>
    text("option", state.lang === "zh" ? item.name_zh || item.code : item.name_en || item.code, { value: item.code })));
}

async function submitNewRequest(event) {
  event.preventDefault();
  const body = { grid_id: $("#new-grid").value, menu_item_code: $("#new-item").value,
    resident_phone: $("#new-phone").value, text: $("#new-text").value };
  if ($("#new-name").value) body.resident_name = $("#new-name").value;
  try {
    const accepted = await api("/console/api/requests", { method: "POST", body: JSON.stringify(body) });
    $("#new-result").textContent = `${t("filed")}: ${accepted.request_id}`;
    $("#new-result").dataset.requestId = accepted.request_id;
    $("#new-phone").value = ""; $("#new-name").value = ""; $("#new-text").value = "";
  } catch (error) {
    $("#new-result").textContent = error.message;
  }
}

async function submitAction(event) {
  event.preventDefault();
  const action = $("#action").value;
  const body = { reason: $("#action-reason").value };
  if (action === "reassign") body.volunteer_id = $("#action-volunteer").value;
  if (action === "priority") body.priority = $("#action-priority").value;
  try {
    await api(`/console/api/requests/${encodeURIComponent(state.selected)}/actions/${action}`,
      { method: "POST", body: JSON.stringify(body) });
    $("#action-result").textContent = t("accepted");
    $("#action-reason").value = "";
  } catch (error) {
    $("#action-result").textContent = error.message;
  }
}

function ratesQuery(format) {
  const params = new URLSearchParams({ group_by: $("#group-by").value, format });
  if ($("#rates-start").value) params.set("start", `${$("#rates-start").value}T00:00:00+08:00`);
  if ($("#rates-end").value) params.set("end", `${$("#rates-end").value}T23:59:59+08:00`);
  return `/console/api/rates?${params}`;
}

const PERCENT = ["response_rate", "resolution_rate", "satisfaction_rate", "on_time_closure_rate", "redo_rate"];
const RATE_LABELS = { group: "", received: "received", response_rate: "responseRate", resolution_rate: "resolutionRate",
  satisfaction_rate: "satisfactionRate", on_time_closure_rate: "onTimeRate", redo_rate: "redoRate",
  median_minutes_to_assign: "medianAssign", median_minutes_to_resolve: "medianResolve" };

async function loadRates(event) {
  event?.preventDefault();
  const result = await api(ratesQuery("json"));
  const head = document.createElement("tr");
  for (const label of Object.values(RATE_LABELS)) head.append(text("th", label ? t(label) : t($("#group-by").value)));
  $("#rates-table thead").replaceChildren(head);
  $("#rates-table tbody").replaceChildren(...result.rows.map((row) => {
    const tr = document.createElement("tr");
    for (const field of Object.keys(RATE_LABELS)) {
      const value = row[field];
      tr.append(text("td", value == null ? "—" : PERCENT.includes(field) ? `${(value * 100).toFixed(1)}%` : String(value)));
    }
    return tr;
  }));
  $("#rates-chart").replaceChildren(...result.rows.map((row) => {
    const line = text("div", "", { class: "row" });
    line.append(text("span", row.group));
    for (const field of ["response_rate", "resolution_rate", "satisfaction_rate"]) {
      const cell = text("span", "", { title: t(RATE_LABELS[field]) });
      const bar = text("span", "", { class: "bar" });
      // Through the CSSOM: the console's CSP refuses inline style attributes.
      bar.style.width = `${Math.round((row[field] || 0) * 100)}%`;
      cell.append(bar);
      line.append(cell);
    }
    return line;
  }));
  // The CSV link needs the key too, so it is fetched and handed over as a blob.
  $("#rates-csv").onclick = async (click) => {
    click.preventDefault();
    const response = await fetch(ratesQuery("csv"), { headers: { "X-API-Key": state.key } });
    const url = URL.createObjectURL(await response.blob());
    const link = text("a", "", { href: url, download: "rates.csv" });
    link.click();
    URL.revokeObjectURL(url);
  };
}

async function loadHealth() {
  const health = await api("/console/api/health");
  $("#services").replaceChildren(...Object.entries(health.services).map(([name, ok]) =>
    text("span", `${name} ${ok ? "✓" : "✗"}`, { class: ok ? "chip good" : "chip bad" })));
  $("#lag tbody").replaceChildren(...health.consumer_lag.map((l) => {
    const tr = document.createElement("tr");
    tr.append(text("td", l.group), text("td", `${l.topic}[${l.partition}]`), text("td", String(l.lag)));
    return tr;
  }));
  $("#dead-letters").textContent = health.dead_letters ?? "?";
  $("#parked").textContent = String(health.parked_webhooks);
}

function showTab(name) {
  state.tab = name;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  for (const tab of ["board", "rates", "health"]) $(`#${tab}-tab`).hidden = tab !== name;
  if (name === "rates") loadRates();
  if (name === "health") loadHealth();
}

async function start() {
  state.district = (await api("/console/api/me")).district;
  renderDistrict();
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#tabs").hidden = false;
  $("#logout").hidden = false;
  await refreshBoard();
  loadNewRequestForm().catch((error) => { $("#new-result").textContent = error.message; });
  followChanges();
  setInterval(() => { if (!state.live) scheduleRefresh(); }, POLL_WHILE_DOWN_MS);
  setInterval(scheduleRefresh, SAFETY_REFRESH_MS);
  setInterval(tickCountdowns, 1000);
}

function logout(message = "") {
  sessionStorage.removeItem("console.key");
  state.key = null;
  if (state.stream) state.stream.abort();
  $("#app").hidden = true;
  $("#tabs").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
}

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = $("#key").value.trim();
  sessionStorage.setItem("console.key", state.key);
  start().catch((error) => { $("#login-error").textContent = error.message; });
});
$("#lang").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("console.lang", state.lang);
  applyLanguage();
});
$("#logout").addEventListener("click", () => logout());
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
$("#action-form").addEventListener("submit", submitAction);
$("#action").addEventListener("change", showActionFields);
$("#new-grid").addEventListener("change", () => loadMenu().catch(() => {}));
$("#new-request-form").addEventListener("submit", submitNewRequest);
$("#rates-form").addEventListener("submit", loadRates);
applyLanguage();
showActionFields();
if (state.key) start().catch(() => logout());
