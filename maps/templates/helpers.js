// Shared by the maps' panels: the page's language (?lang=, Russian by default), the
// texts in it, and escaping for anything put into HTML.
QONYS.lang = (new URLSearchParams(window.location.search).get("lang") || "ru");
if (!QONYS.texts[QONYS.lang]) { QONYS.lang = "ru"; }
function qT(key, vars) {
  var s = (QONYS.texts[QONYS.lang] || QONYS.texts.ru)[key] || key;
  for (var v in (vars || {})) { s = s.split("{" + v + "}").join(vars[v]); }
  return s;
}
function qEsc(s) { return String(s).replace(/[&<>"]/g, function (c) {
  return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
