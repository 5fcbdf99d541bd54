// The hotline desk: look a caller up by phone, file for their household with the item's questions answered,
// and record a rating, a "not done" or a note taken on the phone. Uses console.js's $, t, api, text, state.
"use strict";

const desk = { phone: "", lookup: null, household: null, request: null, menu: [] };
const translated = (key, value) => (I18N[state.lang][key] || I18N.zh[key] || {})[value] || value;
const when = (iso) => (iso ? new Date(iso).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB") : "");

async function lookUpCaller(event) {
  event.preventDefault();
  const phone = $("#desk-phone").value.trim();
  try {
    desk.lookup = await api(`/console/api/desk/callers?phone=${encodeURIComponent(phone)}`);
    // Looking the same caller up again refreshes the lists and keeps the household chosen; another caller starts over.
    const same = phone.replace(/\D/g, "") === desk.phone && desk.household;
    desk.phone = phone.replace(/\D/g, "");
    desk.household = same ? desk.lookup.households.find((h) => h.resident_id === desk.household.resident_id) || null : null;
    if (!same) {
      desk.request = null;
      $("#desk-household").hidden = true;
      $("#desk-request").hidden = true;
    }
    renderDesk();
    if (!same) $("#desk-households tbody tr")?.focus();
  } catch (error) {
    $("#desk-lookup-result").textContent = error.message;
  }
}

function renderDesk() {
  if (!desk.lookup) return;
  const found = desk.lookup.households;
  $("#desk-lookup-result").textContent = found.length ? `${t("found")}: ${found.length}` : t("noHousehold");
  $("#desk-households tbody").replaceChildren(...found.map((h) => {
    const row = document.createElement("tr");
    row.dataset.residentId = h.resident_id;
    row.classList.toggle("selected", h.resident_id === desk.household?.resident_id);
    const door = [h.building, h.unit, h.household].filter(Boolean).join(" ");
    const caller = h.matched_as === "resident" ? t("asResident") : `${t("asProxy")} (${translated("proxyKinds", h.proxy?.kind)})`;
    row.append(text("td", h.name), text("td", named(h.grid, h.grid.id)), text("td", door), text("td", h.address),
      text("td", caller), text("td", h.vulnerabilities.map((v) => translated("vulnerabilities", v)).join("、")));
    return operableRow(row, () => chooseHousehold(h));
  }));
  const requests = desk.household ? desk.household.recent_requests : desk.lookup.requests_by_phone;
  $("#desk-requests tbody").replaceChildren(...requests.map((r) => {
    const row = document.createElement("tr");
    row.dataset.requestId = r.request_id;
    row.classList.toggle("selected", r.request_id === desk.request?.request_id);
    row.append(text("td", named(r.menu_item, r.menu_item.id)), text("td", statusName(r.status)),
      text("td", when(r.submitted_at)), text("td", r.rating_stars ? "★".repeat(r.rating_stars) : ""));
    return operableRow(row, () => chooseRequest(r.request_id));
  }));
  if (desk.household) renderHousehold();
  if (desk.request) renderRequest();
}

async function chooseHousehold(household) {
  desk.household = household;
  desk.request = null;
  $("#desk-request").hidden = true;
  $("#desk-language").value = household.language || "zh";
  desk.menu = await api(`/console/api/grids/${encodeURIComponent(household.grid.id)}/menu`);
  $("#desk-item").replaceChildren(...desk.menu.map((item) => text("option", named(item, item.code), { value: item.code })));
  renderQuestions();
  renderDesk();
  $("#desk-item").focus();
}

function renderHousehold() {
  const h = desk.household;
  $("#desk-household").hidden = false;
  $("#desk-household-name").textContent = `${h.name} · ${named(h.grid, h.grid.id)} ${[h.building, h.unit, h.household].join(" ")}`;
  const proxy = h.proxy ? `${translated("proxyKinds", h.proxy.kind)} ${h.proxy.name} ${h.proxy.phone}` : "";
  $("#desk-household-contact").textContent = `${t("contact")}: ${h.phone || t("noPhone")}${proxy ? " · " + proxy : ""}`;
  for (const option of $("#desk-item").options) {
    option.textContent = named(desk.menu.find((item) => item.code === option.value), option.value);
  }
}

// One input per question of the item, by its datatype; list values show their names, answers send their keys.
function renderQuestions() {
  const item = desk.menu.find((entry) => entry.code === $("#desk-item").value);
  const fields = (item?.attributes || []).map((q) => {
    const label = text("label", "");
    label.append(text("span", `${q.description || q.code}${q.required ? ` (${t("required")})` : ""}`));
    let input;
    if (q.datatype === "singlevaluelist" || q.datatype === "multivaluelist") {
      input = text("select", "");
      if (q.datatype === "multivaluelist") input.multiple = true;
      else input.append(text("option", "", { value: "" }));
      input.append(...q.values.map((v) => text("option", v.name, { value: v.key })));
    } else if (q.datatype === "text") {
      input = text("textarea", "", { rows: "2" });
    } else {
      input = text("input", "", { type: q.datatype === "number" ? "number" : q.datatype === "datetime" ? "datetime-local" : "text" });
    }
    input.dataset.code = q.code;
    input.dataset.datatype = q.datatype;
    input.setAttribute("data-testid", `desk-question-${q.code}`);
    if (q.required) input.required = true;
    label.append(input);
    return label;
  });
  const legend = text("legend", t("questions"), { "data-i18n": "questions" });
  $("#desk-questions").replaceChildren(legend, ...fields);
  $("#desk-questions").classList.toggle("empty", fields.length === 0);
}

function answers() {
  const given = {};
  for (const input of $("#desk-questions").querySelectorAll("[data-code]")) {
    const { code, datatype } = input.dataset;
    if (datatype === "multivaluelist") {
      const chosen = [...input.selectedOptions].map((o) => o.value);
      if (chosen.length) given[code] = chosen;
    } else if (input.value !== "") {
      // datetime-local has no zone: the desk works in China time.
      given[code] = datatype === "number" ? Number(input.value) : datatype === "datetime" ? `${input.value}:00+08:00` : input.value;
    }
  }
  return given;
}

async function fileForHousehold(event) {
  event.preventDefault();
  const h = desk.household;
  const body = { grid_id: h.grid.id, resident_id: h.resident_id, menu_item_code: $("#desk-item").value,
    text: $("#desk-text").value, attributes: answers(), resident_language: $("#desk-language").value };
  if ($("#desk-priority").value) body.priority = $("#desk-priority").value;
  try {
    const accepted = await api("/console/api/requests", { method: "POST", body: JSON.stringify(body) });
    $("#desk-result").textContent = `${t("filed")}: ${accepted.request_id}`;
    $("#desk-result").dataset.requestId = accepted.request_id;
    $("#desk-text").value = "";
    renderQuestions();
  } catch (error) {
    $("#desk-result").textContent = error.message;
  }
}

async function chooseRequest(requestId) {
  desk.request = await api(`/console/api/desk/requests/${encodeURIComponent(requestId)}`);
  $("#desk-action-result").textContent = "";
  renderDesk();
  $("#desk-stars").focus();
}

function renderRequest() {
  const r = desk.request;
  $("#desk-request").hidden = false;
  $("#desk-request-item").textContent = `${itemName(r.community_id, r.menu_item_code)} · ${statusName(r.status)}`;
  const facts = [[t("words"), r.text || ""], [t("answers"), answersText(r)],
    [t("rating"), r.rating ? `${"★".repeat(r.rating.stars)} ${r.rating.comment || ""}` : t("none")],
    [t("notes"), (r.notes || []).map((n) => n.text).join(" / ")],
    [t("address"), r.household ? r.household.address : ""]];
  $("#desk-request-facts").replaceChildren(...facts.flatMap(([k, v]) => [text("dt", k), text("dd", v)]));
}

async function onThePhone(event, path, body) {
  event.preventDefault();
  const id = desk.request.request_id;
  try {
    await api(`/console/api/desk/requests/${encodeURIComponent(id)}/${path}`, { method: "POST", body: JSON.stringify(body) });
    $("#desk-action-result").textContent = t("recorded");
    event.target.reset();
  } catch (error) {
    $("#desk-action-result").textContent = error.message;
    return;
  }
  // Dispatch applies the command within a second or so: show the request again once it has.
  const before = JSON.stringify([desk.request.rating, desk.request.notes, desk.request.status]);
  for (let attempt = 0; attempt < 10 && desk.request?.request_id === id; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = await api(`/console/api/desk/requests/${encodeURIComponent(id)}`).catch(() => null);
    if (now && JSON.stringify([now.rating, now.notes, now.status]) !== before) {
      desk.request = now;
      renderDesk();
      return;
    }
  }
}

$("#desk-lookup").addEventListener("submit", lookUpCaller);
$("#desk-item").addEventListener("change", renderQuestions);
$("#desk-file").addEventListener("submit", fileForHousehold);
$("#desk-rate").addEventListener("submit", (event) =>
  onThePhone(event, "rating", { stars: Number($("#desk-stars").value), comment: $("#desk-comment").value }));
$("#desk-not-done").addEventListener("submit", (event) =>
  onThePhone(event, "report-not-done", { reason: $("#desk-not-done-reason").value }));
$("#desk-note").addEventListener("submit", (event) => onThePhone(event, "notes", { text: $("#desk-note-text").value }));
