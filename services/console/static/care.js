// Scheduled care: today's due check-ins and visits, the missed ones with their welfare checks, and the plans
// per grid. Uses console.js's $, t, api, text, state, gridName, volunteerName, statusName, showDetail.
"use strict";

Object.assign(I18N.zh, {
  care: "关怀", careToday: "今日到期", careMissed: "未确认（已开上门探望）", carePlans: "关怀计划",
  careWindow: "时段", careState: "情况", careKind: "内容", careSchedule: "频次", careAlert: "通知",
  resident: "住户", welfare: "上门探望", careStates: { missed: "未确认", confirmed: "已确认", open: "进行中",
    upcoming: "未到时间", not_created: "未生成" },
  careKinds: { check_in: "电话问候", visit: "上门走访", errand: "定期代办", blood_pressure: "量血压" },
  weekdays: ["一", "二", "三", "四", "五", "六", "日"], every: "每", days: "天", weekly: "每周",
  confirmCheckIn: "确认平安（电话问候）",
});
Object.assign(I18N.en, {
  care: "Care", careToday: "Due today", careMissed: "Missed (welfare check opened)", carePlans: "Care plans",
  careWindow: "Window", careState: "State", careKind: "What", careSchedule: "How often", careAlert: "Alert",
  resident: "Resident", welfare: "Welfare check", careStates: { missed: "missed", confirmed: "confirmed",
    open: "open", upcoming: "upcoming", not_created: "not created" },
  careKinds: { check_in: "check-in call", visit: "visit", errand: "recurring errand", blood_pressure: "blood pressure" },
  weekdays: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], every: "every", days: "days", weekly: "weekly",
  confirmCheckIn: "Confirm check-in (resident is fine)",
});

const careText = (group, key) => (I18N[state.lang][group] || I18N.zh[group] || {})[key] || key || "";
const localTime = (iso) => (iso ? new Date(iso).toLocaleTimeString(state.lang === "zh" ? "zh-CN" : "en-GB",
  { hour: "2-digit", minute: "2-digit" }) : "");

function cadence(schedule) {
  if (schedule.every_days) return `${t("every")} ${schedule.every_days} ${t("days")} ${schedule.window_start}–${schedule.window_end}`;
  const names = (schedule.weekdays || []).map((d) => t("weekdays")[d]).join("、");
  return `${t("weekly")} ${names} ${schedule.window_start}–${schedule.window_end}`;
}

function occurrenceRow(o) {
  const tr = document.createElement("tr");
  tr.dataset.requestId = o.request_id || "";
  tr.classList.toggle("overdue", o.state === "missed");
  tr.append(text("td", `${localTime(o.window_start)}–${localTime(o.window_end)}`),
    text("td", o.resident_name || o.resident_id), text("td", gridName(o.grid_id)),
    text("td", careText("careKinds", o.kind)), text("td", careText("careStates", o.state)),
    text("td", o.status ? statusName(o.status) : ""), text("td", o.volunteer_id ? volunteerName(o.volunteer_id) : ""));
  if (o.state === "missed") {
    tr.append(text("td", o.welfare_request_id ? `${t("welfare")}: ${statusName(o.welfare_status) || "…"}` : ""));
  }
  const open = o.welfare_request_id || o.request_id;
  return open ? operableRow(tr, () => { showTab("board"); showDetail(open); }) : tr;
}

async function loadCare() {
  const [today, plans] = await Promise.all([api("/console/api/care/today"), api("/console/api/care/plans")]);
  $("#care-date").textContent = today.date;
  $("#care-missed tbody").replaceChildren(...today.missed.map(occurrenceRow));
  $("#care-today tbody").replaceChildren(...today.due.map(occurrenceRow));
  $("#care-plans tbody").replaceChildren(...plans.plans.map((p) => {
    const tr = document.createElement("tr");
    tr.classList.toggle("inactive", !p.active);
    tr.append(text("td", p.plan_id), text("td", p.resident_name || p.resident_id), text("td", gridName(p.grid_id)),
      text("td", careText("careKinds", p.kind) + (p.menu_item_code ? ` (${p.menu_item_code})` : "")),
      text("td", cadence(p.schedule)), text("td", p.volunteer_id ? volunteerName(p.volunteer_id) : ""),
      text("td", p.alert.map((a) => [a.name, a.phone].filter(Boolean).join(" ")).join("；")));
    return tr;
  }));
}

document.querySelector('#tabs button[data-tab="care"]').addEventListener("click", () => {
  loadCare().catch((error) => { $("#care-result").textContent = error.message; });
});
setInterval(() => { if (state.tab === "care") loadCare().catch(() => {}); }, 15000);
