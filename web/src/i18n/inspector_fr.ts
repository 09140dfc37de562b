// The inspector's texts in French (docs/web.md §12), the source its English is checked against: a
// catalogue of its own, loaded with the inspector and the teacher console, not on a first visit
// (docs/web.md §10). Plain spaces before `: ; ! ?` here; core/i18n.ts typesets them.

/** The inspector's texts, and the console's for the connections' health. */
export const inspectorFr = {
  inspectorHeading: "Inspecteur",
  inspectorHeadingConn: "Inspecteur : connexion n° {n}",
  inspectorIntro:
    "Ce que le serveur reçoit de vos autres connexions (votre client Java ou Python) et ce qu'il leur répond, ligne par ligne, avec ce qu'il en a compris.",
  inspectorIntroConn:
    "Ce que le serveur reçoit de cette connexion et ce qu'il lui répond, ligne par ligne.",
  backToConsole: "Retour à la console",
  inspectorConnsHeading: "Vos autres connexions",
  inspectorConnHeading: "La connexion",
  noOtherConns: "Aucune autre connexion avec votre compte pour l'instant.",
  inspectorEmpty:
    "Connectez votre client Java ou Python avec votre compte ({name}) : ses lignes apparaîtront ici.",
  inspectorEmptyConn:
    "Aucune ligne pour l'instant : elles apparaîtront ici dès que cette connexion écrira.",
  inspectorLinesHeading: "Lignes échangées",
  inspectorKept: "Les {n} dernières lignes sont gardées.",
  inspectorPause: "Pause",
  inspectorResume: "Reprendre",
  inspectorHeld: { one: "{n} ligne en attente", other: "{n} lignes en attente" },
  inspectorClear: "Effacer",
  inspectorPaused: "En pause : l'affichage ne bouge plus, les nouvelles lignes attendent.",
  inspectorRefused: "Le serveur refuse l'inspecteur : {reason}",
  inspectorGone: "Cette connexion est fermée : plus rien ne viendra.",
  dirInMine: "Votre client → serveur",
  dirOutMine: "Serveur → votre client",
  dirIn: "Client → serveur",
  dirOut: "Serveur → client",
  partialLine: "en attente de la fin de ligne",
  unfinishedLine: "ligne jamais terminée : connexion fermée",
  errorReply: "erreur renvoyée",
  readAs: "Lue comme une demande « {type} »",
  readRefused: "Refusée ({code}) : {text}",
  limitHit: "Limite atteinte : {limit}",
  hintLabel: "Conseil",
  jsonStop: "La lecture s'arrête ici",
  jsonEnd: "(fin de ligne)",
  connNumber: "Connexion n° {n}",
  connSince: "ouverte {when}",
  connState_anonymous: "non identifiée",
  connState_guest: "invité",
  connState_user: "connectée",
  connState_closed: "fermée",
  healthLines: "Lignes reçues",
  healthErrors: "Erreurs",
  healthBadJson: "JSON invalide",
  healthUnknownTypes: "Types inconnus",
  healthLimits: "Limites atteintes",
  healthLastError: "Dernière erreur",
  healthLastErrorAt: "{code} à {time}",
  healthNone: "aucune",
  hintNoNewline: {
    one:
      "Le serveur attend la fin de la ligne (\\n) : votre client n'a pas encore envoyé de retour à la ligne ({n} octet reçu)",
    other:
      "Le serveur attend la fin de la ligne (\\n) : votre client n'a pas encore envoyé de retour à la ligne ({n} octets reçus)",
  },
  hintBadJson: "Ce n'est pas du JSON : chaque ligne doit être un seul objet JSON, { … }",
  hintBadJsonAt:
    "JSON invalide : la lecture s'arrête au caractère {n}, marqué ci-dessus. Vérifiez les guillemets, les virgules et les accolades juste avant",
  hintUnknownType: "Type « {type} » inconnu du serveur",
  hintUnknownTypeSuggest: "Type « {type} » inconnu : vouliez-vous dire « {suggestion} » ?",
  hintFieldMissing: "Il manque le champ « {field} »",
  hintFieldType: "Le champ « {field} » doit être {expected}",
  hintFieldInvalid: "La valeur du champ « {field} » n'est pas acceptée",
  kind_string: "une chaîne de caractères, entre guillemets",
  kind_number: "un nombre",
  kind_int: "un nombre entier",
  kind_boolean: "true ou false",
  kind_object: "un objet { … }",
  kind_array: "une liste [ … ]",
  hintEncoding:
    "Ligne reçue en Windows-1252, pas en UTF-8 : les emoji et certains caractères sont perdus ; écrivez en UTF-8, par ex. new OutputStreamWriter(socket.getOutputStream(), StandardCharsets.UTF_8)",
  hintCommandAsChat:
    '« /login » ou « /register » envoyé comme message : un mot de passe ne doit jamais partir dans la discussion. Avant la connexion, le serveur refuse la ligne ; après, il la transmet à toute la classe comme un message ordinaire. Pour se connecter, envoyez une ligne {"type":"login","username":"…","password":"…"}',
  // Teacher console: every connection's protocol health
  connectionsHeading: "Connexions et protocole",
  connectionsHint:
    "Toutes les connexions, identifiées ou non, avec ce que le serveur a dû refuser.",
  inspect: "Inspecter",
  inspectConn: "Inspecter la connexion n° {n}",
  noConnections: "Aucune connexion.",
  ownWebConn: "Une page web de votre compte",
} as const;
