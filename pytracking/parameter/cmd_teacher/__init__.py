"""Parameter files of the cmd_teacher tracker: one per benchmark (its default data set) plus default."""
