// The console's only script (no inline scripts: the Content-Security-Policy forbids them).
// Pages opt in with data attributes:
//   <main data-refresh-seconds="15">       reload the page every 15 s (queue monitor)
//   <form data-live-preview="frame-name">  submit to the preview frame whenever a field changes (templates)
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const refresh = document.querySelector("[data-refresh-seconds]");
  if (refresh) {
    const seconds = Number(refresh.getAttribute("data-refresh-seconds"));
    if (seconds > 0) setTimeout(() => window.location.reload(), seconds * 1000);
  }
  for (const form of document.querySelectorAll("form[data-live-preview]")) {
    let timer = null;
    const submitPreview = () => {
      const data = new FormData(form);
      const shadow = document.createElement("form");
      shadow.method = "post";
      shadow.action = form.getAttribute("data-preview-action");
      shadow.target = form.getAttribute("data-live-preview");
      shadow.hidden = true;
      for (const [name, value] of data.entries()) {
        const input = document.createElement("textarea");
        input.name = name;
        input.value = value;
        shadow.appendChild(input);
      }
      document.body.appendChild(shadow);
      shadow.submit();
      shadow.remove();
    };
    form.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(submitPreview, 400);
    });
    submitPreview();
  }
});
