"""`make bench`: the generator's and the typed specs' costs, each as a ratio to its floor."""
