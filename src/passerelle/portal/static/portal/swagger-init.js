// Starts Swagger UI on /docs from the hub's own files (the page runs no inline script).
(function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the public validator is on the Internet: never called
    persistAuthorization: false,
  });
})();
