// The volunteer's phone page: plain DOM, no framework, no third-party code (CSP: scripts from 'self' only).
"use strict";

const T = {
  zh: {
    title: "网格志愿者", large: "大字", phone: "手机号", sendCode: "获取验证码", code: "验证码", signIn: "登录",
    codeSent: "验证码已发送，5 分钟内有效", onDuty: "在岗", offline: "未连接", online: "实时", tasks: "任务",
    record: "服务记录", settings: "设置", offers: "新的邀请", assignments: "我的任务", noOffers: "暂无邀请",
    noAssignments: "暂无进行中的任务", month: "月份", csv: "导出 CSV", leave: "请假日期", from: "从", to: "到",
    addLeave: "添加请假", signOut: "退出登录", accept: "接受", decline: "拒绝", start: "开始", resolve: "完成",
    giveBack: "退回", visitFine: "走访：一切安好", visitNoResponse: "走访：无人应答", note: "添加备注", send: "提交", reason: "原因", notePlaceholder: "备注内容",
    reasonRequired: "请填写原因", expiresIn: "剩余", expired: "已过期", dueIn: "截止", address: "地址",
    building: "楼栋", resident: "居民", proxy: "代办人", answers: "补充信息", status: "状态", sent: "已提交",
    newOffer: "新的邀请：", slaWarning: "即将超时：", tasksDone: "完成任务", hours: "服务时长（小时）",
    ratings: "收到评价", stars: "平均星级", minutes: "分钟", edit: "修改时长", editPrompt: "实际服务分钟数",
    editReason: "修改原因", edited: "（已修改）", remove: "删除", failed: "操作失败：",
    statusNames: { offered: "待接受", assigned: "已接受", in_progress: "进行中", resolved: "已完成",
      matching: "匹配中", escalated: "已上报", submitted: "已提交" },
    proxyKinds: { building_leader: "楼栋长", family: "家属", linked_heart: "连心人" },
  },
  en: {
    title: "Grid volunteer", large: "Large", phone: "Phone number", sendCode: "Send code", code: "Code",
    signIn: "Sign in", codeSent: "Code sent; it is valid for 5 minutes", onDuty: "On duty", offline: "offline",
    online: "live", tasks: "Tasks", record: "Record", settings: "Settings", offers: "New offers",
    assignments: "My tasks", noOffers: "No offers", noAssignments: "No open tasks", month: "Month",
    csv: "Export CSV", leave: "Leave", from: "From", to: "To", addLeave: "Add leave", signOut: "Sign out",
    accept: "Accept", decline: "Decline", start: "Start", resolve: "Done", giveBack: "Give back",
    visitFine: "Visit: all well", visitNoResponse: "Visit: no response",
    note: "Add note", send: "Send", reason: "Reason", notePlaceholder: "Note", reasonRequired: "Please give a reason",
    expiresIn: "Expires in", expired: "expired", dueIn: "Due in", address: "Address", building: "Building",
    resident: "Resident", proxy: "Proxy", answers: "Details", status: "Status", sent: "Sent",
    newOffer: "New offer: ", slaWarning: "Deadline near: ", tasksDone: "Tasks done", hours: "Hours",
    ratings: "Ratings", stars: "Average stars", minutes: "min", edit: "Edit time", editPrompt: "Minutes of service",
    editReason: "Why", edited: " (edited)", remove: "Remove", failed: "Failed: ",
    statusNames: { offered: "offered", assigned: "accepted", in_progress: "in progress", resolved: "done",
      matching: "matching", escalated: "escalated", submitted: "submitted" },
    proxyKinds: { building_leader: "building leader", family: "family", linked_heart: "linked heart" },
  },
};

const state = { draft: null, lang: localStorage.getItem("lang") || "zh", me: null, tasks: { offers: [], assignments: [] },
  phone: "", socket: null, lastEventId: null, clockSkew: 0 };
const $ = (id) => document.getElementById(id);
const t = (key) => T[state.lang][key] ?? key;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(`/volunteer/api/${path}`, {
    ...options,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", ...(options.headers || {}) },
  });
  if (response.status === 401 && path !== "sign-in") {
    showSignIn();
    throw new Error("signed out");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
  if (navigator.vibrate) navigator.vibrate(200);
}

function translate() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  $("lang").textContent = state.lang === "zh" ? "EN" : "中文";
  $("code").placeholder = "123456";
  renderTasks();
  setLive(state.socket && state.socket.readyState === WebSocket.OPEN);
}

// -- sign-in ---------------------------------------------------------------------------------------
function showSignIn() {
  $("app").hidden = true;
  $("signin").hidden = false;
  if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
}

$("code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.phone = $("phone").value.trim();
  try {
    await api("sign-in/code", { method: "POST", body: JSON.stringify({ phone: state.phone, language: state.lang }) });
    $("signin-message").textContent = t("codeSent");
    $("login-form").hidden = false;
    $("code").focus();
  } catch (error) { $("signin-message").textContent = t("failed") + error.message; }
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("sign-in", { method: "POST", body: JSON.stringify({ phone: state.phone, code: $("code").value.trim() }) });
    $("code").value = "";
    await start();
  } catch (error) { $("signin-message").textContent = t("failed") + error.message; }
});

$("sign-out").addEventListener("click", async () => {
  await api("sign-out", { method: "POST" }).catch(() => null);
  showSignIn();
});

// -- tasks -----------------------------------------------------------------------------------------
function remaining(iso) {
  if (!iso) return "";
  const seconds = Math.floor((Date.parse(iso) - Date.now() - state.clockSkew) / 1000);
  if (seconds <= 0) return t("expired");
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return (h ? `${h}:` : "") + `${String(m).padStart(h ? 2 : 1, "0")}:${String(s).padStart(2, "0")}`;
}

// An open reason or note box survives the list being redrawn by a live event (state.draft keeps it).
function reasonBox(card, label, action, required, text = "") {
  card.querySelector(".reason")?.remove();
  state.draft = { id: card.dataset.requestId, label, action, required, text };
  const input = el("input", { placeholder: t(label === "note" ? "notePlaceholder" : "reason"), "data-testid": `input-${action}`,
    oninput: () => { if (state.draft) state.draft.text = input.value; } });
  input.value = text;
  const send = el("button", { type: "button", class: "primary", text: t("send"), "data-testid": `send-${action}`,
    onclick: async () => {
      const value = input.value.trim();
      if (required && !value) { input.focus(); toast(t("reasonRequired")); return; }
      state.draft = null;
      box.remove();
      await act(card.dataset.requestId, action, action === "notes" ? { text: value } : { reason: value });
    } });
  const box = el("div", { class: "reason" }, input, send);
  card.append(box);
  input.focus();
}

async function act(requestId, action, body = {}) {
  try {
    await api(`tasks/${encodeURIComponent(requestId)}/${action}`, {
      method: "POST", body: JSON.stringify(body), headers: { "Idempotency-Key": crypto.randomUUID() } });
    toast(t("sent"));
    setTimeout(loadTasks, 800);
    setTimeout(loadTasks, 3000);
  } catch (error) { toast(t("failed") + error.message); }
}

function taskCard(task) {
  const item = state.lang === "zh" ? task.menu_item.name_zh : task.menu_item.name_en;
  const card = el("li", { class: "card", "data-request-id": task.request_id, "data-testid": `task-${task.kind}`,
    "data-status": task.status });
  card.append(el("h3", { text: item }));
  if (task.text) card.append(el("p", { class: "words", text: `“${task.text}”` }));
  const answers = task.answers_in_words || [];
  if (answers.length) card.append(el("p", { class: "meta", text: `${t("answers")}：${answers.map((a) => `${a.label}：${a.value}`).join("；")}` }));
  const place = task.place || {};
  if (place.building) card.append(el("p", { class: "meta", text: `${t("building")}：${place.building}` }));
  if (place.address) card.append(el("p", { class: "meta", text: `${t("address")}：${place.address}` }));
  const resident = task.resident || {};
  if (resident.name) {
    card.append(el("p", { class: "meta" }, `${t("resident")}：${resident.name} `,
      resident.phone ? el("a", { href: `tel:${resident.phone}`, text: resident.phone }) : null));
  }
  if (task.proxy && task.proxy.kind) {
    const kind = t("proxyKinds")[task.proxy.kind] || task.proxy.kind;
    card.append(el("p", { class: "meta" }, `${t("proxy")}（${kind}）：${task.proxy.name || ""} `,
      task.proxy.phone ? el("a", { href: `tel:${task.proxy.phone}`, "data-testid": "proxy-phone", text: task.proxy.phone }) : null));
  }
  const due = task.kind === "offer" ? task.expires_at || task.accept_due_at : task.resolve_due_at;
  if (due) {
    card.append(el("p", { class: "meta" }, `${task.kind === "offer" ? t("expiresIn") : t("dueIn")} `,
      el("span", { class: "countdown", "data-due": due, text: remaining(due) })));
  }
  card.append(el("p", { class: "meta", "data-testid": "task-status", text: `${t("status")}：${t("statusNames")[task.status] || task.status}` }));
  if (task.notes && task.notes.length) card.append(el("ul", { class: "notes" }, task.notes.map((n) => el("li", { text: n.text }))));
  const button = (label, onclick, primary) => el("button", { type: "button", class: primary ? "primary" : null,
    "data-testid": `action-${label}`, text: t(label), onclick });
  const actions = el("div", { class: "actions" });
  if (task.kind === "offer") {
    actions.append(button("accept", () => act(task.request_id, "accept"), true),
      button("decline", () => reasonBox(card, "reason", "decline", true)));
  } else {
    if (task.status === "assigned") actions.append(button("start", () => act(task.request_id, "start"), true));
    if (task.status === "in_progress") actions.append(button("resolve", () => reasonBox(card, "reason", "resolve", false), true));
    // Scheduled care (docs/care.md): the visit log's outcome; "no response" opens a welfare check at once.
    if (task.request_id.startsWith("care:")) {
      actions.append(button("visitFine", () => act(task.request_id, "visit-outcome", { outcome: "fine" }), true),
        button("visitNoResponse", () => act(task.request_id, "visit-outcome", { outcome: "no_response" })));
    }
    actions.append(button("note", () => reasonBox(card, "note", "notes", true)),
      button("giveBack", () => reasonBox(card, "reason", "give-back", true)));
  }
  card.append(actions);
  const draft = state.draft;
  if (draft && draft.id === task.request_id) setTimeout(() => reasonBox(card, draft.label, draft.action, draft.required, draft.text));
  return card;
}

function renderTasks() {
  const { offers, assignments } = state.tasks;
  $("offers").replaceChildren(...offers.map(taskCard));
  $("assignments").replaceChildren(...assignments.map(taskCard));
  $("no-offers").hidden = offers.length > 0;
  $("no-assignments").hidden = assignments.length > 0;
}

async function loadTasks() {
  const tasks = await api("tasks");
  state.clockSkew = Date.now() - Date.parse(tasks.server_time);
  state.tasks = tasks;
  renderTasks();
}

setInterval(() => {
  document.querySelectorAll(".countdown[data-due]").forEach((node) => { node.textContent = remaining(node.dataset.due); });
}, 1000);

// -- live notifications (notify's volunteer stream) ------------------------------------------------
function setLive(on) {
  $("live").textContent = t(on ? "online" : "offline");
  $("live").classList.toggle("on", Boolean(on));
}

async function connect() {
  if ($("app").hidden) return;
  let grant;
  try { grant = await api("stream"); } catch (_) { setTimeout(connect, 10000); return; }
  const url = grant.ws_url + (state.lastEventId ? `?after=${encodeURIComponent(state.lastEventId)}` : "");
  const socket = new WebSocket(url, grant.protocols);
  state.socket = socket;
  socket.onopen = () => setLive(true);
  socket.onmessage = (message) => {
    let frame;
    try { frame = JSON.parse(message.data); } catch (_) { return; }
    if (frame.id) state.lastEventId = frame.id;
    const envelope = frame.data || {};
    const data = envelope.data || {};
    const mine = state.me && (data.volunteer_id === state.me.volunteer_id || (data.volunteer_ids || []).includes(state.me.volunteer_id));
    let notice = null;
    if (frame.event === "request.offered" && mine) notice = t("newOffer");
    if (frame.event === "request.sla_warning" && mine) notice = t("slaWarning");
    clearTimeout(connect.refresh);
    connect.refresh = setTimeout(async () => {
      await loadTasks().catch(() => null);
      if (!notice) return;
      // The notice names the service as the list does, once the list has it.
      const task = [...state.tasks.offers, ...state.tasks.assignments].find((x) => x.request_id === envelope.request_id);
      toast(notice + (task ? (state.lang === "zh" ? task.menu_item.name_zh : task.menu_item.name_en) : data.menu_item_code || ""));
    }, 300);
  };
  socket.onclose = () => {
    setLive(false);
    if (state.socket === socket) setTimeout(connect, 3000);
  };
}

// -- availability and leave ------------------------------------------------------------------------
function renderMe() {
  $("me-name").textContent = state.me.name || state.me.volunteer_id;
  $("duty").checked = state.me.on_duty;
  $("leave-list").replaceChildren(...state.me.leave.map((period, index) => el("li", {},
    `${period.start} – ${period.end}`,
    el("button", { type: "button", text: t("remove"), onclick: () => saveAvailability(state.me.on_duty,
      state.me.leave.filter((_, i) => i !== index)) }))));
}

async function saveAvailability(onDuty, leave) {
  try {
    state.me = await api("availability", { method: "PUT", body: JSON.stringify({ on_duty: onDuty, leave }) });
    renderMe();
    toast(t("sent"));
  } catch (error) { toast(t("failed") + error.message); renderMe(); }
}

$("duty").addEventListener("change", () => saveAvailability($("duty").checked, state.me.leave));
$("leave-form").addEventListener("submit", (event) => {
  event.preventDefault();
  saveAvailability(state.me.on_duty, [...state.me.leave, { start: $("leave-start").value, end: $("leave-end").value }]);
});

// -- record of service -----------------------------------------------------------------------------
async function loadRecord() {
  const month = $("month").value;
  const record = await api(`record?month=${encodeURIComponent(month)}`);
  const totals = record.totals;
  const pairs = [["tasksDone", totals.tasks], ["hours", totals.hours], ["ratings", totals.ratings],
    ["stars", totals.average_stars ?? "—"]];
  $("totals").replaceChildren(...pairs.flatMap(([key, value]) => [el("dt", { text: t(key) }),
    el("dd", { "data-testid": `total-${key}`, text: String(value) })]));
  $("record-tasks").replaceChildren(...record.tasks.map((task) => el("li", { class: "card" },
    el("p", { class: "meta", text: `${new Date(task.resolved_at).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "short", timeStyle: "short" })} · ${(state.lang === "zh" ? task.menu_item_name_zh : task.menu_item_name_en) || task.menu_item_code}` }),
    el("p", { text: `${task.minutes} ${t("minutes")}${task.edited ? t("edited") : ""}${task.stars ? ` · ${"★".repeat(task.stars)}` : ""}` }),
    el("button", { type: "button", text: t("edit"), onclick: () => editHours(task) }))));
  $("csv").href = `/volunteer/api/record.csv?month=${encodeURIComponent(month)}`;
}

async function editHours(task) {
  const minutes = Number(prompt(t("editPrompt"), String(task.minutes)));
  if (!minutes) return;
  const reason = prompt(t("editReason"), "");
  if (!reason) return;
  try {
    await api(`record/${encodeURIComponent(task.request_id)}/hours`, { method: "POST",
      body: JSON.stringify({ minutes, reason }), headers: { "Idempotency-Key": crypto.randomUUID() } });
    toast(t("sent"));
    setTimeout(loadRecord, 1500);
  } catch (error) { toast(t("failed") + error.message); }
}

$("month").addEventListener("change", () => loadRecord().catch(() => null));

// -- tabs, language, text size ---------------------------------------------------------------------
document.querySelectorAll("#tabs button").forEach((button) => button.addEventListener("click", () => {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b === button));
  document.querySelectorAll(".tab").forEach((tab) => { tab.hidden = tab.id !== `tab-${button.dataset.tab}`; });
  if (button.dataset.tab === "record") loadRecord().catch(() => null);
  if (button.dataset.tab === "tasks") loadTasks().catch(() => null);
}));

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("lang", state.lang);
  translate();
  if (!$("tab-record").hidden) loadRecord().catch(() => null);
});

$("large").addEventListener("click", () => {
  const large = document.documentElement.classList.toggle("large");
  localStorage.setItem("large", large ? "1" : "");
});

async function start() {
  state.me = await api("me");
  $("signin").hidden = true;
  $("app").hidden = false;
  renderMe();
  await loadTasks();
  connect();
}

document.documentElement.classList.toggle("large", localStorage.getItem("large") === "1");
const now = new Date();
$("month").value = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
translate();
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/volunteer/sw.js", { scope: "/volunteer/" }).catch(() => null);
start().catch(() => showSignIn());
// A slow safety net for a connection that drops events silently; live events refresh at once.
setInterval(() => { if (!$("app").hidden && document.visibilityState === "visible") loadTasks().catch(() => null); }, 60000);
