"use strict";
// Suggestions for a host input (list="..." data-host-autocomplete="URL"): asks the admin's hosts view as one types,
// so no page has to list every host.
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-host-autocomplete]")) {
    const options = document.getElementById(input.getAttribute("list"));
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const url = new URL(input.dataset.hostAutocomplete, window.location.href);
        url.searchParams.set("term", input.value);
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) return;
        const { results } = await response.json();
        options.replaceChildren(...results.map((host) => Object.assign(document.createElement("option"), { value: host })));
      }, 150);
    });
  }
});
