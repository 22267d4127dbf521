// Reloads the page every data-refresh seconds (the body's), unless a form on it has focus or
// the tab is hidden: an operator typing a maintenance reason must not lose it.
(function () {
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!seconds) return;
  setInterval(function () {
    var active = document.activeElement;
    var typing = active && (active.tagName === "INPUT" || active.tagName === "SELECT" ||
                            active.tagName === "TEXTAREA");
    if (!document.hidden && !typing) window.location.reload();
  }, seconds * 1000);
})();
