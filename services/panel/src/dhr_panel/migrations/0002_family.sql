-- Read model of family and friends' involvement: one row per review with a family record,
-- rebuilt from the event store on demand. The five process facts are columns so that oversight
-- queries across reviews need not open the state.
CREATE TABLE family_involvement (
    review_id                       uuid PRIMARY KEY,
    version                         integer NOT NULL,
    people                          integer NOT NULL,
    family_contributed              boolean NOT NULL,
    consulted_on_terms_of_reference boolean NOT NULL,
    supported_by_expert_advocate    boolean NOT NULL,
    received_draft_report           boolean NOT NULL,
    attended_panel                  boolean NOT NULL,
    state                           jsonb   NOT NULL
);
