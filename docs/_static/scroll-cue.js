// A table or code block wider than its box scrolls inside that box (never the page), and says so:
// a shade on each side that hides more, and for tables a line "scroll sideways" under them.
(function () {
  "use strict";

  function update(box, frame) {
    const more = box.scrollWidth - box.clientWidth > 1;
    frame.classList.toggle("scrolls", more);
    frame.classList.toggle("more-left", more && box.scrollLeft > 1);
    frame.classList.toggle("more-right", more && box.scrollLeft + box.clientWidth < box.scrollWidth - 1);
  }

  function watch(box, frame) {
    const again = () => update(box, frame);
    box.addEventListener("scroll", again, { passive: true });
    window.addEventListener("resize", again);
    again();
  }

  function setUp() {
    document.querySelectorAll(".bd-article .pst-scrollable-table-container").forEach((box) => {
      const frame = document.createElement("div");
      frame.className = "scroll-frame table-frame";
      box.parentNode.insertBefore(frame, box);
      frame.appendChild(box);
      const hint = document.createElement("p");
      hint.className = "scroll-hint";
      hint.setAttribute("aria-hidden", "true");
      hint.textContent = "\u21c6 scroll the table sideways for more columns";
      frame.appendChild(hint);
      watch(box, frame);
    });
    document.querySelectorAll(".bd-article div.highlight").forEach((block) => {
      const pre = block.querySelector("pre");
      if (pre) {
        block.classList.add("scroll-frame");
        watch(pre, block);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
