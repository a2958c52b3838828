// The OpenAPI page: Swagger UI from the app's own files (no CDN), reading /openapi.json.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
