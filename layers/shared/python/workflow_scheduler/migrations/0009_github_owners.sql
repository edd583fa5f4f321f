-- Which users of the service may use which GitHub App installation (issue 9, tenancy). A GitHub trigger deploys
-- only if its installation is linked to the deploying user, and fires only while it still is. An operator writes
-- the links (`workflow-scheduler github link`); no foreign key to github_installations: an installation may be
-- linked before the service has seen one of its events.
CREATE TABLE github_installation_owners (
    installation_id  BIGINT NOT NULL CHECK (installation_id > 0),
    owner            TEXT NOT NULL CHECK (owner <> ''),  -- the user's JWT sub, as deployments.owner holds it
    linked_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (installation_id, owner)
);
