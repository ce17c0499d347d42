import type { AppsManifestCreateArguments } from '@slack/web-api';
export const manifest: AppsManifestCreateArguments['manifest'] = {
  "display_information": {
    "name": "LeadFactory Ops",
    "description": "Runs and operates the LeadFactory lead pipeline: runbooks, alerts, incidents and fixes.",
    "background_color": "#1d3557"
  },
  "features": {
    "app_home": {
      "home_tab_enabled": true,
      "messages_tab_enabled": true,
      "messages_tab_read_only_enabled": false
    },
    "bot_user": {
      "display_name": "leadfactory-ops",
      "always_online": true
    },
    "slash_commands": [
      {
        "command": "/lf",
        "url": "https://ops.example.com/slack/events",
        "description": "Operate LeadFactory: status, check, diagnose, jobs, targets, backups, incidents",
        "usage_hint": "help | status | check | diagnose <runbook> | jobs | run <job>",
        "should_escape": false
      }
    ]
  },
  "oauth_config": {
    "scopes": {
      "bot": [
        "commands",
        "chat:write",
        "chat:write.public",
        "files:write",
        "usergroups:read",
        "app_mentions:read",
        "im:history",
        "im:write"
      ]
    }
  },
  "settings": {
    "event_subscriptions": {
      "request_url": "https://ops.example.com/slack/events",
      "bot_events": [
        "app_home_opened",
        "app_mention",
        "message.im"
      ]
    },
    "interactivity": {
      "is_enabled": true,
      "request_url": "https://ops.example.com/slack/events"
    },
    "org_deploy_enabled": false,
    "socket_mode_enabled": false,
    "token_rotation_enabled": false
  }
};
