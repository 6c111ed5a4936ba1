// Starts Swagger UI on the API docs page. A separate file because the Content-Security-Policy
// forbids inline scripts. Not fetched from npm: scripts/vendor-assets leaves this file alone.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
