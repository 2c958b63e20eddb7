// The installations editor: add, reorder and remove screens; show each screen's own settings.
// The form posts as it stands, so without this script an installation can still be edited.
"use strict";
(function () {
  document.addEventListener("submit", (event) => {
    const ask = event.target.dataset.ask;
    if (ask && !window.confirm(ask)) event.preventDefault();
  });
  const list = document.getElementById("screens");
  const template = document.getElementById("screen-template");
  if (!list || !template) return;
  let next = list.querySelectorAll(".screen").length;
  while (list.querySelector(`input[name="s-${next}-name"]`)) next += 1;

  list.addEventListener("change", (event) => {
    if (event.target.matches("[data-kind-select]")) event.target.closest(".screen").dataset.kind = event.target.value;
  });
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    const screen = button.closest(".screen");
    if (button.dataset.act === "up" && screen.previousElementSibling) list.insertBefore(screen, screen.previousElementSibling);
    else if (button.dataset.act === "down" && screen.nextElementSibling) list.insertBefore(screen.nextElementSibling, screen);
    else if (button.dataset.act === "remove") screen.remove();
    button.focus();
  });
  const add = document.getElementById("add-screen");
  if (add) add.addEventListener("click", () => {
    list.insertAdjacentHTML("beforeend", template.innerHTML.replaceAll("__i__", String(next)));
    next += 1;
    list.lastElementChild.querySelector("input").focus();
  });
})();
