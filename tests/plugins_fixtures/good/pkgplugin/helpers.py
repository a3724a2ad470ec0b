PERIOD = "1h"
