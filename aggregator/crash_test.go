package aggregator

const crashChildEnv = "TRIBUTARY_AGGREGATOR_CRASH_CHILD"

func crashChild(dir string) { _ = dir }
