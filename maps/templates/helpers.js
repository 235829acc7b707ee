// Shared by the maps' panels: the page's language (?lang=, Russian by default), the
// texts in it (qT, qApplyLang), and escaping for anything put into HTML.
QONYS.lang = (new URLSearchParams(window.location.search).get("lang") || "ru");
if (!QONYS.texts[QONYS.lang]) { QONYS.lang = "ru"; }
function qT(key, vars) {
  var s = (QONYS.texts[QONYS.lang] || QONYS.texts.ru)[key] || key;
  for (var v in (vars || {})) { s = s.split("{" + v + "}").join(vars[v]); }
  return s;
}
function qEsc(s) { return String(s).replace(/[&<>"']/g, function (c) {
  return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]; }); }
// The chosen language on the page: its lang attribute, every data-i18n text, the
// highlighted language button.
function qApplyLang() {
  document.documentElement.lang = QONYS.lang;
  document.querySelectorAll("[data-i18n]").forEach(function (el) {
    el.textContent = qT(el.getAttribute("data-i18n"));
  });
  document.querySelectorAll("#qonys-lang button").forEach(function (b) {
    b.classList.toggle("active", b.getAttribute("data-lang") === QONYS.lang);
  });
}
