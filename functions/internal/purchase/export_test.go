package purchase

// NewEventWithSetters is newEventWithSetters, for the tests outside the package.
var NewEventWithSetters = newEventWithSetters
