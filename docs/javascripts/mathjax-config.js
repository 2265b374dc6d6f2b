// MathJax 2.7, served by the site itself (files from the jupyter-server-mathjax package, copied at
// build time by docs/hooks/mathjax.py); must load before mathjax/MathJax.js.
window.MathJax = {
  config: ["TeX-AMS-MML_HTMLorMML-full.js"],  // the one combined configuration the package ships
  tex2jax: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    ignoreClass: ".*",
    processClass: "arithmatex"
  },
  "HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null},
  menuSettings: {zoom: "None"},
  showMathMenu: false,
  messageStyle: "none"
};
if (typeof document$ !== "undefined") {  // re-typeset after Material swaps page content
  document$.subscribe(function () {
    if (window.MathJax && MathJax.Hub && MathJax.Hub.Queue) {
      MathJax.Hub.Queue(["Typeset", MathJax.Hub]);
    }
  });
}
