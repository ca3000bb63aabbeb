import Chain
import P2P
print("autochain")
