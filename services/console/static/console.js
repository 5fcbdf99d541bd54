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
    search: "搜索", allStatuses: "全部状态", allLevels: "全部层级", allGrids: "全部网格", allItems: "全部事项",
    overdueOnly: "只看超时", sortBy: "排序", sortSla: "按时限（最急在前）", sortNewest: "按登记时间（最新在前）",
    answers: "问题回答", notes: "备注", rating: "评价", address: "地址", household: "住户", stars: "星",
    shown: "显示", of: "共",
    desk: "热线", callerPhone: "来电号码", lookUp: "查找", households: "住户", door: "门牌", caller: "来电人",
    needs: "特殊情况", recentRequests: "近期请求", filedAt: "登记时间", fileFor: "为该住户登记", questions: "请询问",
    language: "语言", priorityLabel: "优先级", itemUrgency: "按事项默认", low: "低", normal: "普通", high: "高",
    critical: "紧急", onThePhone: "电话反馈", comment: "居民的话（可选）", recordRating: "记录评价",
    notDoneReason: "没办好的原因", recordNotDone: "记录“没办好”", noteText: "备注内容", addNote: "添加备注",
    found: "找到住户", noHousehold: "没有登记的住户：请用上方“代居民登记”按电话登记", asResident: "本人",
    asProxy: "代理人", noPhone: "无电话", recorded: "已记录", byPhone: "用此电话登记（无住户）", required: "必填",
    contact: "联系", proxyKinds: { building_leader: "楼长", family: "家属", linked_heart: "结对志愿者" },
    vulnerabilities: { lives_alone: "独居", mobility: "行动不便", hearing: "听力障碍", sight: "视力障碍",
      cannot_read: "不识字" },
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
    levelLabel: "Level", search: "Search", allStatuses: "All statuses", allLevels: "All levels",
    allGrids: "All grids", allItems: "All items", overdueOnly: "Overdue only", sortBy: "Sort",
    sortSla: "By deadline (most urgent first)", sortNewest: "By filing time (newest first)", answers: "Answers",
    notes: "Notes", rating: "Rating", address: "Address", household: "Household", stars: "stars", shown: "Showing",
    of: "of", desk: "Hotline", callerPhone: "Caller's phone", lookUp: "Look up", households: "Households",
    door: "Door", caller: "Caller is", needs: "Needs", recentRequests: "Recent requests", filedAt: "Filed",
    fileFor: "File for this household", questions: "Ask", language: "Language", priorityLabel: "Priority",
    itemUrgency: "The item's default", low: "Low", normal: "Normal", high: "High", critical: "Critical",
    onThePhone: "Taken on the phone", comment: "Their words (optional)", recordRating: "Record rating",
    notDoneReason: "What was not done", recordNotDone: "Record “not done”", noteText: "Note",
    addNote: "Add note", found: "Households found", noHousehold: "No registered household: file by phone with "
      + "“File a request for a resident” above", asResident: "the resident", asProxy: "their proxy",
    noPhone: "no phone", recorded: "Recorded", byPhone: "Filed with this phone (no household)", required: "required",
    contact: "Contact", proxyKinds: { building_leader: "building leader", family: "family", linked_heart: "linked heart" },
    vulnerabilities: { lives_alone: "lives alone", mobility: "mobility", hearing: "hearing", sight: "sight",
      cannot_read: "cannot read" },
    statuses: { submitted: "Submitted", matching: "Matching", offered: "Offered", assigned: "Assigned",
      in_progress: "In progress", resolved: "Resolved", rated: "Rated", escalated: "Escalated",
      cancelled: "Cancelled", rejected: "Rejected", expired: "Expired", unassigned: "Nobody available" },
    levels: { grid: "Grid", community: "Community", street: "Street office", district: "District" },
  },
};

const state = { lang: localStorage.getItem("console.lang") || "zh", key: sessionStorage.getItem("console.key"),
  board: null, selected: null, tab: "board", boardSignature: "", district: null, live: false, stream: null,
  refreshTimer: null,
  // Names of places and items by id, from the directory and the menus: the page shows names, never codes.
  names: { grids: {}, communities: {}, items: {}, menus: {} }, households: {} };
// The board is reloaded when notify's operator stream says something changed; polled only while it is down.
const REFRESH_DEBOUNCE_MS = 300;
const POLL_WHILE_DOWN_MS = 5000;
const SAFETY_REFRESH_MS = 60000;
const $ = (selector) => document.querySelector(selector);
const t = (name) => I18N[state.lang][name] ?? I18N.zh[name] ?? name;
const statusName = (s) => I18N[state.lang].statuses[s] || I18N.zh.statuses[s] || s || "";
const levelName = (l) => I18N[state.lang].levels[l] || I18N.zh.levels[l] || l || "";
const named = (entry, fallback) => (entry ? (state.lang === "zh" ? entry.name_zh : entry.name_en) || entry.name_zh : null)
  || fallback || "";
const gridName = (id) => named(state.names.grids[id], id);
const itemName = (communityId, code) => named(state.names.items[`${communityId}:${code}`], code);
const volunteerName = (id) => (state.board?.volunteers || []).find((v) => v.volunteer_id === id)?.name || id;

// Rows of a table are operable from the keyboard: Tab or the arrow keys move between them, Enter or Space opens.
function operableRow(tr, open) {
  tr.tabIndex = 0;
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); }
    if (event.key === "ArrowDown") { event.preventDefault(); tr.nextElementSibling?.focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); tr.previousElementSibling?.focus(); }
  });
  return tr;
}

function rememberPlaces(directory) {
  for (const g of directory.grids) state.names.grids[g.id] = g;
  for (const c of directory.communities) state.names.communities[c.id] = c;
}

async function loadItemNames(directory) {
  // A grid's menu is its community's, so one grid per community is enough; when a grid's menu cannot be read
  // (a grid just added, not yet known to intake), the community's next grid is tried, and one community that
  // fails leaves the others' names in place.
  const gridsOf = {};
  for (const g of directory.grids) (gridsOf[g.community_id] ??= []).push(g.id);
  await Promise.allSettled(Object.entries(gridsOf).map(async ([community, grids]) => {
    for (const grid of grids) {
      try {
        const menu = await api(`/console/api/grids/${encodeURIComponent(grid)}/menu`);
        state.names.menus[community] = menu;
        for (const item of menu) state.names.items[`${community}:${item.code}`] = item;
        return;
      } catch (error) {
        console.warn(`menu of grid ${grid}: ${error.message}`);
      }
    }
  }));
}

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
  document.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nLabel)); });
  for (const option of $("#new-grid").options) option.textContent = gridName(option.value);
  const community = state.names.grids[$("#new-grid").value]?.community_id;
  for (const option of $("#new-item").options) option.textContent = itemName(community, option.value);
  if (typeof renderDesk === "function") renderDesk();
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

  renderQueue(board);
  $("#grid-load tbody").replaceChildren(...board.load_per_grid.map((g) => {
    const tr = document.createElement("tr");
    tr.append(text("td", gridName(g.grid_id)), text("td", `${g.open} ${t("open")}`));
    return tr;
  }));
  $("#volunteer-load tbody").replaceChildren(...board.volunteers.map((v) => {
    const tr = document.createElement("tr");
    tr.append(text("td", v.name || v.volunteer_id), text("td", gridName(v.grid_id)),
      text("td", `${v.open_assignments ?? 0} / ${v.capacity ?? "?"}`));
    return tr;
  }));
  $("#volunteer-list").replaceChildren(...board.volunteers.map((v) => text("option", v.name, { value: v.volunteer_id })));
}

function queueFilter() {
  return { search: $("#queue-search").value.trim().toLowerCase(), status: $("#queue-status").value,
    level: $("#queue-level").value, grid: $("#queue-grid").value, item: $("#queue-item").value,
    overdue: $("#queue-overdue").checked, sort: $("#queue-sort").value };
}

function filteredRequests(requests, f) {
  const shown = requests.filter((r) => (!f.status || r.status === f.status) && (!f.level || r.level === f.level)
    && (!f.grid || r.grid_id === f.grid) && (!f.item || r.menu_item_code === f.item) && (!f.overdue || r.overdue)
    && (!f.search || [r.request_id, itemName(r.community_id, r.menu_item_code), gridName(r.grid_id),
      statusName(r.status), volunteerName(r.assigned_volunteer_id || "")].some((v) => (v || "").toLowerCase().includes(f.search))));
  const due = (r) => (r.sla_due_at ? new Date(r.sla_due_at).getTime() : Infinity);
  // Critical requests (a welfare check after a missed check-in) lead the queue, then the nearest deadline.
  const rank = (r) => (r.priority === "critical" ? 0 : 1);
  if (f.sort === "sla") shown.sort((a, b) => rank(a) - rank(b) || due(a) - due(b));
  else shown.sort((a, b) => (b.submitted_at || "").localeCompare(a.submitted_at || ""));
  return shown;
}

function fillFilterOptions(board) {
  const keep = (select, options) => {
    const chosen = select.value;
    const first = select.options[0];
    first.textContent = t(first.dataset.i18n);
    select.replaceChildren(first, ...options.map(([value, label]) => text("option", label, { value })));
    select.value = options.some(([value]) => value === chosen) ? chosen : "";
  };
  keep($("#queue-status"), Object.keys(I18N.zh.statuses).map((s) => [s, statusName(s)]));
  keep($("#queue-level"), ["grid", "community", "street", "district"].map((l) => [l, levelName(l)]));
  keep($("#queue-grid"), Object.keys(state.names.grids).map((g) => [g, gridName(g)]));
  const items = {};
  for (const menu of Object.values(state.names.menus)) for (const item of menu) items[item.code] ??= named(item, item.code);
  for (const r of board.requests) items[r.menu_item_code] ??= itemName(r.community_id, r.menu_item_code);
  keep($("#queue-item"), Object.entries(items));
}

function renderQueue(board = state.board) {
  if (!board) return;
  fillFilterOptions(board);
  const now = new Date();
  const shown = filteredRequests(board.requests, queueFilter());
  const rows = shown.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.requestId = r.request_id;
    if (r.overdue) tr.classList.add("overdue");
    if (r.request_id === state.selected) tr.classList.add("selected");
    const volunteer = r.assigned_volunteer_id ? volunteerName(r.assigned_volunteer_id)
      : (r.offered_volunteer_ids || []).map(volunteerName).join(", ");
    tr.append(text("td", r.request_id.slice(0, 8)), text("td", itemName(r.community_id, r.menu_item_code)),
      text("td", gridName(r.grid_id)), text("td", statusName(r.status)), text("td", levelName(r.level)),
      text("td", volunteer), text("td", countdown(r.sla_due_at, now), { class: "sla", "data-due": r.sla_due_at || "" }));
    return operableRow(tr, () => showDetail(r.request_id));
  });
  $("#queue tbody").replaceChildren(...rows);
  $("#queue-count").textContent = `${t("shown")} ${shown.length} ${t("of")} ${board.requests.length}`;
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
  const household = await householdOf(r);
  const facts = [[t("status"), statusName(r.status)], [t("level"), levelName(r.level)],
    [t("item"), itemName(r.community_id, r.menu_item_code)], [t("grid"), gridName(r.grid_id)],
    [t("volunteer"), r.assigned_volunteer_id ? volunteerName(r.assigned_volunteer_id) : t("none")],
    [t("sla"), r.sla_due_at ? new Date(r.sla_due_at).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB") : ""],
    [t("words"), r.text || ""], [t("answers"), answersText(r)],
    [t("rating"), r.rating ? `${r.rating.stars} ${t("stars")} ${r.rating.comment || ""}` : t("none")],
    [t("household"), household ? `${household.name || ""} · ${household.address}` : (r.resident || {}).name || ""]];
  $("#detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [text("dt", k), text("dd", v, { "data-fact": k })]));
  $("#detail-notes").replaceChildren(...(r.notes || []).map((n) => text("li", `${n.text} (${n.by || ""})`)));
  $("#timeline").replaceChildren(...(r.timeline || []).map((e) => {
    const li = text("li", "", { "data-type": e.type });
    li.append(text("time", new Date(e.time).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB")));
    const d = e.data || {};
    const what = d.status ? statusName(d.status) : e.type;
    li.append(document.createTextNode(`${what} · ${e.type} ${d.message || ""} ${d.reason ? "(" + d.reason + ")" : ""}`));
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

// The menu's questions by code, with the names of list values, so answers read as the operator asked them.
function answersText(r) {
  const item = state.names.items[`${r.community_id}:${r.menu_item_code}`] || {};
  const questions = Object.fromEntries((item.attributes || []).map((a) => [a.code, a]));
  return Object.entries(r.attributes || {}).map(([code, value]) => {
    const question = questions[code] || {};
    const names = Object.fromEntries((question.values || []).map((v) => [v.key, v.name]));
    const shown = (Array.isArray(value) ? value : [value]).map((v) => names[v] ?? v).join(", ");
    return `${question.description || code}: ${shown}`;
  }).join("; ");
}

// The household (address, proxy) from intake's staff view, once per request: it does not change while shown.
async function householdOf(r) {
  if (!r.resident_id && !(r.resident || {}).id) return null;
  if (!(r.request_id in state.households)) {
    const view = await api(`/console/api/desk/requests/${encodeURIComponent(r.request_id)}`).catch(() => ({}));
    state.households[r.request_id] = view.household || null;
  }
  return state.households[r.request_id];
}

function showActionFields() {
  const action = $("#action").value;
  $("#action-volunteer").hidden = action !== "reassign";
  $("#action-priority").hidden = action !== "priority";
}

async function loadNewRequestForm() {
  const directory = await api("/console/api/directory");
  rememberPlaces(directory);
  $("#new-grid").replaceChildren(...directory.grids.map((g) => text("option", gridName(g.id), { value: g.id })));
  await loadMenu();
  await loadItemNames(directory);
  if (state.board) renderBoard(state.board);
}

async function loadMenu() {
  const grid = $("#new-grid").value;
  if (!grid) return;
  const menu = await api(`/console/api/grids/${encodeURIComponent(grid)}/menu`);
  if ($("#new-grid").value !== grid) return;  // the operator chose another grid meanwhile
  const chosen = $("#new-item").value;
  $("#new-item").replaceChildren(...menu.map((item) => text("option", named(item, item.code), { value: item.code })));
  if (menu.some((item) => item.code === chosen)) $("#new-item").value = chosen;
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
  for (const tab of ["board", "desk", "care", "rates", "health"]) $(`#${tab}-tab`).hidden = tab !== name;
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
for (const id of ["#queue-search", "#queue-status", "#queue-level", "#queue-grid", "#queue-item", "#queue-overdue", "#queue-sort"]) {
  $(id).addEventListener(id === "#queue-search" ? "input" : "change", () => renderQueue());
}
applyLanguage();
showActionFields();
if (state.key) start().catch(() => logout());
