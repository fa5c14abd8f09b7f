"""What the coupling study's point and summary stages agree on: the metrics and the rows."""

METRICS = ("ARE", "NME", "RMSE")
SUPERVISED, COMPARATOR = "supervised", "gender_mean_face"  # evaluation row names
