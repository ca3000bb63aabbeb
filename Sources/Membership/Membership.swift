// Membership: registry client, registry service, autoscaler and providers.
// Empty until the registry issue: nothing here pretends to work before it does.
