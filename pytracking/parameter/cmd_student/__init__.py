"""Parameter files of the cmd_student tracker: one per benchmark (its default data set) plus default."""
