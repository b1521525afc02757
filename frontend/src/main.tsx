import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { NotificationsTab } from "./notifications/NotificationsTab";
import "./notifications/notifications.css";

const root = document.getElementById("notifications-tab");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={new QueryClient()}>
        <NotificationsTab />
      </QueryClientProvider>
    </StrictMode>,
  );
}
